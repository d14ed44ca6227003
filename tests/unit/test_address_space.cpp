#include <gtest/gtest.h>

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "target/address_space.h"

namespace leakscope {
namespace {

constexpr pid_t kPid = 4242;

// Lines of a maps file, one per mapping a test needs.
constexpr char kExeRo[] = "55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 100 /usr/bin/app\n";
constexpr char kExeText[] = "55d0c0a01000-55d0c0a05000 r-xp 00001000 08:01 100 /usr/bin/app\n";
constexpr char kHeap[] = "55d0c1000000-55d0c1021000 rw-p 00000000 00:00 0 [heap]\n";
constexpr char kAnon[] = "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 \n";
constexpr char kAnonMore[] = "7f0000200000-7f0000300000 rw-p 00000000 00:00 0 \n";
constexpr char kJit[] = "7f0000400000-7f0000401000 rwxp 00000000 00:00 0 \n";
constexpr char kSharedAnon[] = "7f0000500000-7f0000501000 rw-s 00000000 00:00 0 \n";
constexpr char kLibcText[] =
    "7f1000028000-7f100019d000 r-xp 00028000 08:01 200 /usr/lib/libc.so.6\n";
constexpr char kPluginText[] =
    "7f2000000000-7f2000001000 r-xp 00000000 08:01 300 /tmp/plugin.so (deleted)\n";
constexpr char kThreadStack[] = "7f3000000000-7f3000800000 rw-p 00000000 00:00 0 [stack:4243]\n";
constexpr char kStack[] = "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n";
constexpr char kVvar[] = "7ffd10000000-7ffd10004000 r--p 00000000 00:00 0 [vvar]\n";
constexpr char kVdso[] = "7ffd10004000-7ffd10006000 r-xp 00000000 00:00 0 [vdso]\n";
constexpr char kUprobes[] = "7fffff000000-7fffff001000 --xp 00000000 00:00 0 [uprobes]\n";

std::string join(std::initializer_list<const char*> lines) {
  std::string out;
  for (const char* line : lines) out += line;
  return out;
}

// Maps texts by pid, and how often they were read.
struct FakeProc {
  std::map<pid_t, std::optional<std::string>> maps;
  int reads = 0;

  AddressSpaces::MapsReader reader() {
    return [this](pid_t pid) -> std::optional<std::string> {
      ++reads;
      auto it = maps.find(pid);
      return it == maps.end() ? std::nullopt : it->second;
    };
  }
};

TEST(AddressSpace, FindsAndClassifiesMappings) {
  FakeProc proc;
  // Out of order on purpose: the space sorts by start.
  proc.maps[kPid] = join({kVdso, kExeRo, kExeText, kHeap, kAnon, kJit, kSharedAnon, kLibcText,
                          kPluginText, kThreadStack, kStack, kVvar, kUprobes});
  AddressSpaces spaces(proc.reader());
  const AddressSpace* space = spaces.observe(kPid);
  ASSERT_NE(space, nullptr);
  EXPECT_TRUE(space->alive());

  const std::vector<Mapping>& mappings = space->mappings();
  ASSERT_EQ(mappings.size(), 13u);
  for (size_t i = 1; i < mappings.size(); ++i)
    EXPECT_LT(mappings[i - 1].entry.start, mappings[i].entry.start);

  const Mapping* text = space->find(0x55d0c0a01234);
  ASSERT_NE(text, nullptr);
  EXPECT_EQ(text->entry.start, 0x55d0c0a01000u);
  EXPECT_EQ(text->path, "/usr/bin/app");
  EXPECT_EQ(space->find(0x55d0c0a05000), nullptr);  // end is exclusive, a gap follows
  EXPECT_EQ(space->find(0x1000), nullptr);

  const Mapping* plugin = space->find(0x7f2000000010);
  ASSERT_NE(plugin, nullptr);
  EXPECT_EQ(plugin->path, "/tmp/plugin.so");
  EXPECT_EQ(plugin->entry.path, "/tmp/plugin.so (deleted)");

  EXPECT_TRUE(space->is_code(0x55d0c0a01234));   // executable file
  EXPECT_FALSE(space->is_code(0x55d0c0a00010));  // its read-only part
  EXPECT_TRUE(space->is_code(0x7f1000030000));   // a library
  EXPECT_TRUE(space->is_code(0x7f2000000010));   // deleted, still code
  EXPECT_TRUE(space->is_code(0x7ffd10004010));   // [vdso]
  EXPECT_FALSE(space->is_code(0x7f0000400010));  // anonymous executable (JIT)
  EXPECT_FALSE(space->is_code(0x55d0c1000010));  // [heap]
  EXPECT_FALSE(space->is_code(0x1000));          // nothing there

  EXPECT_EQ(space->is_anonymous(0x55d0c1000010), true);   // [heap]
  EXPECT_EQ(space->is_anonymous(0x7f0000000010), true);   // anonymous
  EXPECT_EQ(space->is_anonymous(0x7f0000400010), true);   // anonymous executable
  EXPECT_EQ(space->is_anonymous(0x7f0000500010), false);  // shared
  EXPECT_EQ(space->is_anonymous(0x55d0c0a01234), false);  // a file
  EXPECT_EQ(space->is_anonymous(0x7ffd00000010), false);  // [stack]
  EXPECT_EQ(space->is_anonymous(0x7f3000000010), false);  // [stack:TID]
  EXPECT_EQ(space->is_anonymous(0x7ffd10000010), false);  // [vvar]
  EXPECT_EQ(space->is_anonymous(0x7ffd10004010), false);  // [vdso]
  EXPECT_EQ(space->is_anonymous(0x1000), std::nullopt);

  EXPECT_EQ(space->module_path(0x55d0c0a01234), "/usr/bin/app");
  EXPECT_EQ(space->module_path(0x7f2000000010), "/tmp/plugin.so");
  EXPECT_EQ(space->module_path(0x55d0c1000010), "");  // [heap] is no file
  EXPECT_EQ(space->module_path(0x1000), "");

  EXPECT_EQ(space->uprobe_trampoline(), 0x7fffff000000u);

  // Entries as read, for planners: " (deleted)" kept.
  const std::vector<MapEntry> entries = space->entries();
  ASSERT_EQ(entries.size(), mappings.size());
  bool deleted_kept = false;
  for (const MapEntry& e : entries) deleted_kept |= e.path == "/tmp/plugin.so (deleted)";
  EXPECT_TRUE(deleted_kept);
}

TEST(AddressSpace, NoUprobeTrampolineIsZero) {
  FakeProc proc;
  proc.maps[kPid] = join({kExeText, kHeap});
  AddressSpaces spaces(proc.reader());
  ASSERT_NE(spaces.observe(kPid), nullptr);
  EXPECT_EQ(spaces.find(kPid)->uprobe_trampoline(), 0u);
}

TEST(AddressSpace, GenerationGoesUpOnlyWhenTheTextChanges) {
  FakeProc proc;
  proc.maps[kPid] = join({kExeText, kHeap});
  AddressSpaces spaces(proc.reader());
  const AddressSpace* space = spaces.observe(kPid);
  ASSERT_NE(space, nullptr);
  EXPECT_EQ(space->generation(), 1u);

  spaces.begin_tick();
  EXPECT_EQ(spaces.observe(kPid), space);
  EXPECT_EQ(proc.reads, 2);
  EXPECT_EQ(space->generation(), 1u);

  proc.maps[kPid] = join({kExeText, kHeap, kAnon});
  spaces.begin_tick();
  spaces.observe(kPid);
  EXPECT_EQ(space->generation(), 2u);
  EXPECT_EQ(space->is_anonymous(0x7f0000000010), true);
}

TEST(AddressSpace, CodeGenerationFollowsOnlyExecutableFiles) {
  FakeProc proc;
  proc.maps[kPid] = join({kExeText, kHeap});
  AddressSpaces spaces(proc.reader());
  const AddressSpace* space = spaces.observe(kPid);
  ASSERT_NE(space, nullptr);
  EXPECT_EQ(space->code_generation(), 1u);

  // Anonymous memory comes and goes, even executable: no new plan needed.
  for (const std::string& text :
       {join({kExeText, kHeap, kAnon}), join({kExeText, kHeap, kAnon, kAnonMore, kJit}),
        join({kExeText, kHeap})}) {
    proc.maps[kPid] = text;
    spaces.begin_tick();
    spaces.observe(kPid);
  }
  EXPECT_EQ(space->generation(), 4u);
  EXPECT_EQ(space->code_generation(), 1u);

  // A library mapped (dlopen), then unmapped (dlclose).
  proc.maps[kPid] = join({kExeText, kHeap, kLibcText});
  spaces.begin_tick();
  spaces.observe(kPid);
  EXPECT_EQ(space->code_generation(), 2u);
  proc.maps[kPid] = join({kExeText, kHeap});
  spaces.begin_tick();
  spaces.observe(kPid);
  EXPECT_EQ(space->code_generation(), 3u);
}

TEST(AddressSpaces, ReadsAtMostOncePerTick) {
  FakeProc proc;
  proc.maps[kPid] = join({kExeText, kHeap});
  AddressSpaces spaces(proc.reader());
  const AddressSpace* space = spaces.observe(kPid);
  ASSERT_NE(space, nullptr);
  proc.maps[kPid] = join({kExeText, kHeap, kAnon});
  EXPECT_EQ(spaces.observe(kPid), space);
  EXPECT_EQ(spaces.observe(kPid), space);
  EXPECT_EQ(proc.reads, 1);
  EXPECT_EQ(space->is_anonymous(0x7f0000000010), std::nullopt);  // not read yet

  spaces.begin_tick();
  spaces.observe(kPid);
  spaces.observe(kPid);
  EXPECT_EQ(proc.reads, 2);
  EXPECT_EQ(space->is_anonymous(0x7f0000000010), true);
}

TEST(AddressSpaces, RereadsOnAMissAtMostOncePerTick) {
  FakeProc proc;
  proc.maps[kPid] = join({kExeText, kHeap});
  AddressSpaces spaces(proc.reader());
  ASSERT_NE(spaces.observe(kPid), nullptr);
  ASSERT_EQ(proc.reads, 1);

  // A hit reads nothing.
  const Mapping* text = spaces.mapping_at(kPid, 0x55d0c0a01234);
  ASSERT_NE(text, nullptr);
  EXPECT_EQ(text->path, "/usr/bin/app");
  EXPECT_EQ(proc.reads, 1);

  // Mapped since the read (a dlopen): found by reading again.
  proc.maps[kPid] = join({kExeText, kHeap, kLibcText});
  const Mapping* libc = spaces.mapping_at(kPid, 0x7f1000030000);
  ASSERT_NE(libc, nullptr);
  EXPECT_EQ(libc->path, "/usr/lib/libc.so.6");
  EXPECT_EQ(proc.reads, 2);

  // Another miss in the same tick costs no read, even if it would now hit.
  proc.maps[kPid] = join({kExeText, kHeap, kLibcText, kAnon});
  EXPECT_EQ(spaces.mapping_at(kPid, 0x7f0000000010), nullptr);
  EXPECT_EQ(spaces.mapping_at(kPid, 0x1000), nullptr);
  EXPECT_EQ(proc.reads, 2);

  // A new tick allows one more.
  spaces.begin_tick();
  EXPECT_NE(spaces.mapping_at(kPid, 0x7f0000000010), nullptr);
  EXPECT_EQ(proc.reads, 3);
  EXPECT_EQ(spaces.mapping_at(kPid, 0x1000), nullptr);
  EXPECT_EQ(proc.reads, 3);
}

TEST(AddressSpaces, MappingAtObservesAnUnknownProcessOnce) {
  FakeProc proc;
  proc.maps[kPid] = join({kExeText, kHeap});
  AddressSpaces spaces(proc.reader());
  EXPECT_EQ(spaces.find(kPid), nullptr);
  // Just read: a miss right after does not read the same maps again.
  EXPECT_EQ(spaces.mapping_at(kPid, 0x1000), nullptr);
  EXPECT_EQ(proc.reads, 1);
  EXPECT_NE(spaces.find(kPid), nullptr);
  EXPECT_NE(spaces.mapping_at(kPid, 0x55d0c1000010), nullptr);
  EXPECT_EQ(proc.reads, 1);
}

TEST(AddressSpaces, GoneProcessKeepsItsLastView) {
  FakeProc proc;
  proc.maps[kPid] = join({kExeText, kHeap});
  AddressSpaces spaces(proc.reader());
  const AddressSpace* space = spaces.observe(kPid);
  ASSERT_NE(space, nullptr);

  // A zombie's maps read empty.
  proc.maps[kPid] = "";
  spaces.begin_tick();
  EXPECT_EQ(spaces.observe(kPid), space);
  EXPECT_FALSE(space->alive());
  EXPECT_EQ(space->generation(), 1u);
  EXPECT_NE(space->find(0x55d0c0a01234), nullptr);
  // No reading again on a miss: nothing new can be mapped.
  EXPECT_EQ(spaces.mapping_at(kPid, 0x1000), nullptr);
  EXPECT_EQ(proc.reads, 2);

  // Reaped: no maps at all.
  proc.maps.erase(kPid);
  spaces.begin_tick();
  EXPECT_EQ(spaces.observe(kPid), space);
  EXPECT_FALSE(space->alive());
  EXPECT_NE(space->find(0x55d0c0a01234), nullptr);
}

TEST(AddressSpaces, UnreadableUnknownProcessIsNotKept) {
  FakeProc proc;
  proc.maps[kPid] = "";  // a zombie before we ever looked
  AddressSpaces spaces(proc.reader());
  EXPECT_EQ(spaces.observe(kPid), nullptr);
  EXPECT_EQ(spaces.observe(kPid + 1), nullptr);  // no such process
  EXPECT_EQ(spaces.find(kPid), nullptr);
  EXPECT_EQ(spaces.mapping_at(kPid, 0x1000), nullptr);
}

TEST(AddressSpaces, ForgetDropsTheView) {
  FakeProc proc;
  proc.maps[kPid] = join({kExeText, kHeap});
  AddressSpaces spaces(proc.reader());
  ASSERT_NE(spaces.observe(kPid), nullptr);
  spaces.forget(kPid);
  EXPECT_EQ(spaces.find(kPid), nullptr);
  // Observed again from scratch, in the same tick.
  const AddressSpace* space = spaces.observe(kPid);
  ASSERT_NE(space, nullptr);
  EXPECT_EQ(proc.reads, 2);
  EXPECT_EQ(space->generation(), 1u);
}

TEST(AddressSpaces, ReadHooksSeeEveryLiveRead) {
  FakeProc proc;
  proc.maps[kPid] = join({kExeText, kHeap});
  AddressSpaces spaces(proc.reader());
  std::vector<std::pair<pid_t, uint64_t>> seen;
  const size_t hook = spaces.add_read_hook(
      [&](pid_t pid, const AddressSpace& space) { seen.emplace_back(pid, space.generation()); });
  spaces.observe(kPid);
  spaces.observe(kPid);  // no read, no call
  spaces.begin_tick();
  spaces.observe(kPid);  // read, unchanged: still called
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(kPid, uint64_t{1}));
  EXPECT_EQ(seen[1], std::make_pair(kPid, uint64_t{1}));

  proc.maps[kPid] = "";  // gone: nothing to look at
  spaces.begin_tick();
  spaces.observe(kPid);
  EXPECT_EQ(seen.size(), 2u);

  spaces.remove_read_hook(hook);
  proc.maps[kPid] = join({kExeText});
  spaces.begin_tick();
  spaces.observe(kPid);
  EXPECT_EQ(seen.size(), 2u);
}

}  // namespace
}  // namespace leakscope
