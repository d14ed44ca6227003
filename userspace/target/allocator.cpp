#include "target/allocator.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <sstream>
#include <optional>
#include <set>

#include "core/errors.h"
#include "target/elf_file.h"
#include "target/probe_placement.h"
#include "target/proc_maps.h"
#include "target/process.h"

namespace leakscope {

namespace {

struct Module {
  std::string module_path;
  std::string attach_path;
  bool main = false;
  std::optional<ElfFile> elf;
  std::string error;  // why elf is empty
};

std::string_view base_name(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// glibc (libc.so.6, older libc-2.31.so) and musl (whose libc is its loader).
bool is_libc(std::string_view path) {
  std::string_view name = base_name(path);
  return name.starts_with("libc.so") || name.starts_with("libc-") ||
         name.starts_with("libc.musl") || name.starts_with("ld-musl-");
}

// The dynamic loader of glibc: it has a private minimal malloc of its own.
bool is_loader(std::string_view path) {
  std::string_view name = base_name(path);
  return !is_libc(path) &&
         (name.starts_with("ld-") || name.starts_with("ld.so") || name.starts_with("ld64.so"));
}

// A definition of SYMBOL in MODULE that a uprobe can use: a global,
// non-IFUNC function, exported unless MODULE is the main executable (a
// static binary has only .symtab).
std::optional<ElfFile::Symbol> site_symbol(const Module& module, std::string_view symbol) {
  if (!module.elf) return std::nullopt;
  auto found = module.elf->find_function(symbol);
  if (!found || !found->global || found->ifunc) return std::nullopt;
  if (!module.main && !found->in_dynsym) return std::nullopt;
  return found;
}

// Its file offset.
std::optional<uint64_t> site_offset(const Module& module, std::string_view symbol) {
  auto found = site_symbol(module, symbol);
  if (!found) return std::nullopt;
  return module.elf->vaddr_to_file_offset(found->vaddr);
}

// Calls F(symbol) for SYMBOL bare, then with each of FAMILY's prefixes.
template <typename F>
void for_each_spelling(const AllocFamily& family, std::string_view symbol, F&& f) {
  f(std::string(symbol));
  for_each_word(family.prefixes, [&](std::string_view prefix) { f(std::string(prefix) + std::string(symbol)); });
}

bool defines_any_spelling(const Module& module, const AllocFamily& family, std::string_view symbol) {
  bool found = false;
  for_each_spelling(family, symbol, [&](const std::string& s) { found = found || site_offset(module, s).has_value(); });
  return found;
}

bool holds(const Module& module, const AllocFamily& family) {
  if (!module.elf || is_loader(module.module_path)) return false;
  bool all = true;
  for_each_word(family.markers, [&](std::string_view m) { all = all && defines_any_spelling(module, family, m); });
  return all;
}

const AllocFamily& malloc_family() { return kAllocFamilies[0]; }

bool defines_c_allocator(const Module& module) { return holds(module, malloc_family()); }

// MODULE is the library NAME (a DT_NEEDED entry, an LD_PRELOAD entry): its
// soname, or its file's name.
bool is_named(const Module& module, std::string_view name) {
  name = base_name(name);
  return !name.empty() && (base_name(module.module_path) == name || (module.elf && module.elf->soname() == name));
}

// The modules in the order the dynamic linker searches them for a symbol:
// the executable, the preloaded libraries, then the libraries needed,
// breadth first from the executable's. Modules reached otherwise (dlopen)
// are not in it: their symbols bind no one else's calls. Empty when there
// is no dynamically linked executable to start from.
std::vector<const Module*> search_order(const std::vector<Module>& modules,
                                        const std::vector<std::string>& preload) {
  std::vector<const Module*> order;
  auto main = std::find_if(modules.begin(), modules.end(), [](const Module& m) { return m.main; });
  if (main == modules.end() || !main->elf || !main->elf->has_interpreter()) return order;
  auto add = [&](std::string_view name) {
    for (const Module& m : modules)
      if (is_named(m, name) && std::find(order.begin(), order.end(), &m) == order.end()) {
        order.push_back(&m);
        return;
      }
  };
  order.push_back(&*main);
  for (const std::string& p : preload) add(p);
  for (size_t i = 0; i < order.size(); ++i)
    if (order[i]->elf)
      for (const std::string& name : order[i]->elf->needed()) add(name);
  return order;
}

const Module* choose_c_allocator(const std::vector<Module>& modules, const std::vector<std::string>& preload) {
  // As the dynamic linker binds malloc: the first module in its search
  // order that defines it (with free).
  for (const Module* m : search_order(modules, preload))
    if (!is_loader(m->module_path) && defines_c_allocator(*m)) return m;
  // A static executable, or the search order not known: the executable,
  // an allocator library, libc.
  for (const Module& m : modules)
    if (m.main && defines_c_allocator(m)) return &m;
  for (const Module& m : modules)
    if (!m.main && !is_libc(m.module_path) && !is_loader(m.module_path) && defines_c_allocator(m))
      return &m;
  for (const Module& m : modules)
    if (!m.main && is_libc(m.module_path) && defines_c_allocator(m)) return &m;
  return nullptr;
}

[[noreturn]] void throw_no_allocator(const std::vector<Module>& modules) {
  for (const Module& m : modules) {
    if (!m.main || !m.elf || m.elf->has_interpreter()) continue;
    // A static executable: nothing else can hold its allocator.
    if (!m.elf->has_symtab())
      throw FatalError(ExitCode::NoAllocator,
                       "no allocator found: " + m.module_path +
                           " is statically linked and stripped, so malloc cannot be located");
    throw FatalError(ExitCode::NoAllocator,
                     "no allocator found: " + m.module_path +
                         " is statically linked and defines no malloc and free");
  }
  std::string message = "no mapped object defines malloc and free";
  std::string unreadable;
  for (const Module& m : modules) {
    if (m.elf) continue;
    unreadable += (unreadable.empty() ? "" : "; ") + m.error;
  }
  if (!unreadable.empty()) message += " (unreadable: " + unreadable + ")";
  throw FatalError(ExitCode::NoAllocator, message);
}

}  // namespace

AllocatorPlan plan_allocator_in_files(const std::vector<std::pair<std::string, std::string>>& modules,
                                      bool first_is_main, const std::vector<std::string>& preload) {
  std::vector<Module> opened;
  opened.reserve(modules.size());
  for (const auto& [module_path, attach_path] : modules) {
    Module m;
    m.module_path = module_path;
    m.attach_path = attach_path;
    m.main = first_is_main && opened.empty();
    m.elf = ElfFile::open(attach_path, &m.error);
    opened.push_back(std::move(m));
  }

  const Module* allocator = choose_c_allocator(opened, preload);
  if (allocator == nullptr) throw_no_allocator(opened);

  AllocatorPlan plan;
  plan.allocator_module = allocator->module_path;
  plan.allocator_in_main = allocator->main;
  plan.allocator_family = std::string(malloc_family().name);
  for (const char* os_call : {"mmap", "mmap64", "mremap", "munmap", "sbrk", "brk"})
    plan.allocator_wraps_os_memory_calls |= site_offset(*allocator, os_call).has_value();
  std::set<std::pair<const Module*, uint64_t>> probed;  // one probe per address
  auto add_site = [&](const Module& m, uint32_t fn, AllocShape shape, const std::string& symbol,
                      bool may_forward) {
    auto offset = site_offset(m, symbol);
    if (!offset || probed.count({&m, *offset})) return;
    const uint64_t size = site_symbol(m, symbol)->size;
    if (shape == AllocShape::Free && may_forward && tail_forwards(m.elf->read_bytes(*offset, 32))) {
      plan.forwarders.emplace_back(m.module_path, symbol);
      return;
    }
    probed.emplace(&m, *offset);
    ProbeSite site{shape, fn, symbol, m.attach_path, m.module_path, *offset, *offset, "", size};
    // Free-shaped functions have no return probe, whose breakpoint sits at
    // the entry: their entry probe may move to an instruction the kernel
    // emulates.
    if (shape == AllocShape::Free) {
      Placement p = place_entry_probe(m.elf->read_bytes(*offset, 32),
                                      PlacementRules{1, /*null_first_argument_is_noop=*/true});
      site.file_offset += p.delta;
      site.placement = "+" + std::to_string(p.delta) + " (" + p.instruction + "): " + p.reason;
    }
    plan.sites.push_back(std::move(site));
  };
  // The serving allocator's module first, then the others in their order.
  std::vector<const Module*> order{allocator};
  for (const Module& m : opened)
    if (&m != allocator) order.push_back(&m);
  for (const Module* m : order) {
    for (size_t family = 0; family < std::size(kAllocFamilies); ++family) {
      const AllocFamily& f = kAllocFamilies[family];
      if (!holds(*m, f)) continue;
      plan.families.push_back({std::string(f.name), m->module_path, m->main});
      // A family's own API names the allocator that serves malloc.
      if (m == allocator && family > 1) plan.allocator_family = std::string(f.name);
      for (size_t i = 0; i < f.functions.size(); ++i) {
        const AllocFunction& function = f.functions[i];
        for_each_word(function.symbols, [&](std::string_view symbol) {
          // The family's own free is probed whatever its code.
          const bool may_forward = symbol != f.free;
          for_each_spelling(f, symbol, [&](const std::string& spelled) {
            add_site(*m, alloc_fn_id(family, i), function.shape, spelled, may_forward);
          });
        });
      }
    }
  }
  for (const Module& m : opened) {
    if (!m.elf) continue;
    bool alloc = false, free = false;
    for (const ElfFile::UsdtProbe& probe : m.elf->usdt_probes()) {
      if (probe.provider != kOtelMemoryProvider) continue;
      alloc |= probe.name == "alloc";
      free |= probe.name == "free";
    }
    if (alloc && free) plan.otel_memory.emplace_back(m.module_path, m.attach_path);
  }
  return plan;
}

std::string describe_allocators(const AllocatorPlan& plan) {
  std::string line;
  if (!plan.otel_memory.empty()) {
    line = "otel_memory probes in ";
    for (size_t i = 0; i < plan.otel_memory.size(); ++i)
      line += (i ? " and " : "") + std::string(base_name(plan.otel_memory[i].first));
    line += " report what the allocator samples, sizes weighted by it (no allocator uprobes); ";
  }
  line += plan.allocator_family + " in " + std::string(base_name(plan.allocator_module)) +
          (plan.allocator_in_main ? " (the executable)" : "") + " serves malloc";
  // The other families found, each with its modules: "operator new in
  // libjemalloc.so.2 and libstdc++.so.6".
  std::vector<std::pair<std::string, std::string>> also;  // {family, modules}
  for (const FamilyFound& f : plan.families) {
    if (f.module_path == plan.allocator_module && (f.family == plan.allocator_family || f.family == "malloc"))
      continue;
    const std::string module = std::string(base_name(f.module_path)) + (f.in_main ? " (the executable)" : "");
    auto it = std::find_if(also.begin(), also.end(), [&](const auto& a) { return a.first == f.family; });
    if (it == also.end())
      also.emplace_back(f.family, module);
    else
      it->second += " and " + module;
  }
  for (size_t i = 0; i < also.size(); ++i)
    line += (i == 0 ? "; also " : ", ") + also[i].first + " in " + also[i].second;
  return line;
}

std::vector<std::string> describe_probes(const AllocatorPlan& plan) {
  std::vector<std::string> lines;
  for (const auto& [module_path, attach_path] : plan.otel_memory)
    lines.push_back("USDT in " + std::string(base_name(module_path)) + ": otel_memory:alloc otel_memory:free");
  if (!plan.otel_memory.empty()) return lines;  // the uprobe sites are not attached
  std::string module;
  for (const ProbeSite& site : plan.sites) {
    if (lines.empty() || site.module_path != module) {
      module = site.module_path;
      lines.push_back("probed in " + std::string(base_name(module)) + ":");
    }
    lines.back() += " " + site.symbol;
  }
  module.clear();
  bool first = true;
  for (const auto& [path, symbol] : plan.forwarders) {
    if (first || path != module) {
      module = path;
      lines.push_back("not probed in " + std::string(base_name(module)) +
                      " (each jumps to a free that is probed):");
      first = false;
    }
    lines.back() += " " + symbol;
  }
  return lines;
}

namespace {

// The libraries preloaded into PID: its LD_PRELOAD (split at spaces and
// colons), then its root's /etc/ld.so.preload (at whitespace), as ld.so
// reads them. Unreadable ones give nothing.
std::vector<std::string> preloaded(pid_t pid) {
  auto read_all = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  auto split = [](std::string_view text, std::string_view separators, std::vector<std::string>& out) {
    size_t i = 0;
    while (i < text.size()) {
      size_t end = text.find_first_of(separators, i);
      if (end == std::string_view::npos) end = text.size();
      if (end > i) out.emplace_back(text.substr(i, end - i));
      i = end + 1;
    }
  };
  std::vector<std::string> out;
  const std::string proc = "/proc/" + std::to_string(pid);
  for (const std::string& field : split_nul(read_all(proc + "/environ")))
    if (field.starts_with("LD_PRELOAD=")) split(std::string_view(field).substr(11), " :", out);
  split(read_all(proc + "/root/etc/ld.so.preload"), " \t\n", out);
  return out;
}

}  // namespace

AllocatorPlan plan_allocator(pid_t pid, const std::vector<MapEntry>& maps) {
  std::string exe;
  char buf[PATH_MAX];
  ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf);
  if (n > 0) exe.assign(buf, static_cast<size_t>(n));

  std::vector<std::pair<std::string, std::string>> modules;
  std::set<std::string> seen;
  bool have_main = false;
  for (const MapEntry& entry : maps) {
    if (!entry.file_backed() || !entry.executable() || !seen.insert(entry.path).second) continue;
    std::pair<std::string, std::string> module{entry.path, openable_path(pid, entry)};
    if (!exe.empty() && entry.path == exe) {
      modules.insert(modules.begin(), std::move(module));
      have_main = true;
    } else {
      modules.push_back(std::move(module));
    }
  }

  try {
    return plan_allocator_in_files(modules, have_main, preloaded(pid));
  } catch (const FatalError& error) {
    if (error.code() != ExitCode::NoAllocator) throw;
    throw FatalError(ExitCode::NoAllocator, "PID " + std::to_string(pid) + " (" +
                                                process_comm(pid).value_or("?") +
                                                "): " + error.what());
  }
}

}  // namespace leakscope
