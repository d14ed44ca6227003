#include "target/allocator.h"

#include <unistd.h>

#include <climits>
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

bool defines(const Module& module, AllocFn fn) {
  for (std::string_view symbol : alloc_fn_info(fn).symbols)
    if (site_offset(module, symbol)) return true;
  return false;
}

bool defines_c_allocator(const Module& module) {
  return defines(module, AllocFn::Malloc) && defines(module, AllocFn::Free);
}

const Module* choose_c_allocator(const std::vector<Module>& modules) {
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

AllocatorPlan plan_allocator_in_files(
    const std::vector<std::pair<std::string, std::string>>& modules, bool first_is_main) {
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

  const Module* allocator = choose_c_allocator(opened);
  if (allocator == nullptr) throw_no_allocator(opened);

  AllocatorPlan plan;
  plan.allocator_module = allocator->module_path;
  plan.allocator_in_main = allocator->main;
  std::set<std::pair<const Module*, uint64_t>> probed;  // one probe per address
  auto add_site = [&](const Module& m, AllocFn fn, std::string_view symbol) {
    auto offset = site_offset(m, symbol);
    if (!offset) return false;
    if (!probed.emplace(&m, *offset).second) return true;
    ProbeSite site{fn, std::string(symbol), m.attach_path, m.module_path, *offset, *offset, ""};
    site.entry_size = site_symbol(m, symbol)->size;
    // Only free has no return probe, whose breakpoint sits at the entry:
    // its entry probe may move to an instruction the kernel emulates.
    if (fn == AllocFn::Free) {
      Placement p = place_entry_probe(m.elf->read_bytes(*offset, 32),
                                      PlacementRules{1, /*null_first_argument_is_noop=*/true});
      site.file_offset += p.delta;
      site.placement = "+" + std::to_string(p.delta) + " (" + p.instruction + "): " + p.reason;
    }
    plan.sites.push_back(std::move(site));
    return true;
  };
  // The C allocator's functions, in the table's order, from its module...
  for (const AllocFnInfo& f : kAllocFns) {
    if (f.fn == AllocFn::OperatorNew) continue;
    for (std::string_view symbol : f.symbols) add_site(*allocator, f.fn, symbol);
  }
  // ...then operator new, which a C++ program may get from a library of its
  // own (libstdc++ beside jemalloc): each symbol from the first module that
  // defines it.
  for (std::string_view symbol : alloc_fn_info(AllocFn::OperatorNew).symbols) {
    for (const Module& m : opened)
      if (add_site(m, AllocFn::OperatorNew, symbol)) break;
  }
  return plan;
}

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
    return plan_allocator_in_files(modules, have_main);
  } catch (const FatalError& error) {
    if (error.code() != ExitCode::NoAllocator) throw;
    throw FatalError(ExitCode::NoAllocator, "PID " + std::to_string(pid) + " (" +
                                                process_comm(pid).value_or("?") +
                                                "): " + error.what());
  }
}

}  // namespace leakscope
