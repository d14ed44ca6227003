// The image table against a fake kernel: images follow lifecycle events and
// the kernel's filter, ended images are closed and pruned, and the
// observer hears of each step in order.
#include "tracer/image_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_kernel.h"

namespace leakscope {
namespace {

using testing::FakeKernel;

// PIDs above any pid_max: never a real process, so /proc has nothing on them.
constexpr pid_t kParent = 90000001, kChild = 90000002, kOther = 90000003;

class RecordingObserver final : public ImageObserver {
 public:
  std::vector<std::string> calls;
  void image_ended(const TracedImage& image) override {
    calls.push_back("ended " + std::to_string(image.id) + " " + end_name(image.end));
  }
  void image_execd(TraceId old, TraceId next) override {
    calls.push_back("execd " + std::to_string(old) + "->" + std::to_string(next));
  }
  void image_closed(const TracedImage& image) override { calls.push_back("closed " + std::to_string(image.id)); }
  void image_forgotten(TraceId id) override { calls.push_back("forgotten " + std::to_string(id)); }
};

struct Fixture {
  FakeKernel kernel;
  RecordingObserver observer;
  ImageTable table;
  explicit Fixture(ImagePolicy policy = {}) : table(kernel, observer, policy) {}

  TracedImage& add_named(pid_t pid, const std::string& comm) {
    TracedImage image;
    image.id = table.new_id();
    image.info.pid = pid;
    image.info.comm = comm;
    image.named = true;
    image.heap_probes = true;
    image.parent_pid = 1;
    kernel.track(pid, image.id, true);
    return table.add(std::move(image));
  }
};

LedgerRow row(TraceId id, int64_t live_bytes, int32_t stack = 7) {
  LedgerRow r;
  r.trace_id = id;
  r.stack_id = stack;
  r.value.live_bytes = live_bytes;
  r.value.live_objects = live_bytes > 0 ? 1 : 0;
  return r;
}

TEST(ImageTable, ForkExecExitEventsMakeAndEndImages) {
  Fixture f;
  TracedImage& parent = f.add_named(kParent, "server");
  const TraceId parent_id = parent.id;

  f.table.apply(LifecycleEvent{LifecycleEvent::Op::Fork, kParent, parent_id, kChild, LS_FIRST_KERNEL_ID}, 1.0);
  const TracedImage* child = f.table.find(LS_FIRST_KERNEL_ID);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->origin, Origin::Child);
  EXPECT_EQ(child->pid(), kChild);
  EXPECT_EQ(child->parent, parent_id);
  EXPECT_EQ(child->parent_pid, kParent);
  EXPECT_EQ(child->info.comm, "server");
  EXPECT_TRUE(child->heap_probes) << "allocator probes follow a child when its parent had them";
  EXPECT_FALSE(child->named);
  EXPECT_EQ(f.table.live(kChild), child);

  // The child execs: the old image ends, a new one (named as its parent was not) takes the PID.
  const TraceId next = LS_FIRST_KERNEL_ID + 1;
  f.table.apply(LifecycleEvent{LifecycleEvent::Op::Exec, kChild, LS_FIRST_KERNEL_ID, 0, next}, 2.0);
  EXPECT_EQ(f.table.find(LS_FIRST_KERNEL_ID)->end, End::Exec);
  const TracedImage* execd = f.table.live(kChild);
  ASSERT_NE(execd, nullptr);
  EXPECT_EQ(execd->id, next);
  EXPECT_EQ(execd->origin, Origin::Exec);
  EXPECT_EQ(execd->parent_pid, kParent) << "an exec keeps the process's parent";

  f.kernel.probed.insert(kChild);
  f.table.apply(LifecycleEvent{LifecycleEvent::Op::Exit, kChild, next, 0, 0}, 3.0);
  EXPECT_EQ(f.table.find(next)->end, End::Exit);
  EXPECT_EQ(f.table.find(next)->exited_at, 3.0);
  EXPECT_EQ(f.table.live(kChild), nullptr);
  EXPECT_EQ(f.kernel.detached, std::vector<pid_t>{kChild}) << "an exit takes the allocator probes off";

  const std::string e1 = std::to_string(LS_FIRST_KERNEL_ID), e2 = std::to_string(next);
  EXPECT_EQ(f.observer.calls, (std::vector<std::string>{"execd " + e1 + "->" + e2, "ended " + e1 + " exec",
                                                        "ended " + e2 + " exit"}));
  // A second fork event for a child adopted already changes nothing.
  f.table.apply(LifecycleEvent{LifecycleEvent::Op::Fork, kParent, parent_id, kChild, LS_FIRST_KERNEL_ID}, 4.0);
  EXPECT_EQ(f.table.size(), 3u);
}

TEST(ImageTable, ReconcilesWithTheKernelsFilter) {
  Fixture f;
  TraceId gone = f.add_named(kParent, "a").id;
  TraceId execs = f.add_named(kChild, "b").id;
  f.kernel.filter.erase(kParent);                                  // its exit event was lost
  f.kernel.filter[kChild] = KernelImage{LS_FIRST_KERNEL_ID + 5, true};  // its exec event was lost
  f.kernel.filter[kOther] = KernelImage{LS_FIRST_KERNEL_ID + 9, false};  // its fork event was lost

  f.table.reconcile(5.0);
  EXPECT_EQ(f.table.find(gone)->end, End::Exit);
  EXPECT_EQ(f.table.find(execs)->end, End::Exec);
  ASSERT_NE(f.table.live(kChild), nullptr);
  EXPECT_EQ(f.table.live(kChild)->id, LS_FIRST_KERNEL_ID + 5);
  EXPECT_EQ(f.table.live(kChild)->origin, Origin::Exec);
  ASSERT_NE(f.table.live(kOther), nullptr);
  EXPECT_EQ(f.table.live(kOther)->origin, Origin::Child);
  // Once the table agrees with the filter, reconciling again changes nothing.
  size_t calls = f.observer.calls.size();
  f.table.reconcile(6.0);
  EXPECT_EQ(f.observer.calls.size(), calls);
}

TEST(ImageTable, UnderAllChildrenGetNoAllocatorProbesButAnExecKeepsThem) {
  Fixture f(ImagePolicy{true, 256});
  TraceId parent = f.add_named(kParent, "a").id;
  f.table.apply(LifecycleEvent{LifecycleEvent::Op::Fork, kParent, parent, kChild, LS_FIRST_KERNEL_ID}, 1.0);
  EXPECT_FALSE(f.table.find(LS_FIRST_KERNEL_ID)->heap_probes) << "under --all drill-downs decide";
  f.table.apply(LifecycleEvent{LifecycleEvent::Op::Exec, kParent, parent, 0, LS_FIRST_KERNEL_ID + 1}, 2.0);
  EXPECT_TRUE(f.table.find(LS_FIRST_KERNEL_ID + 1)->heap_probes);
}

TEST(ImageTable, ClosingMovesAnEndedImagesRowsOutOfTheKernel) {
  Fixture f;
  TraceId ended = f.add_named(kParent, "a").id;
  TraceId live = f.add_named(kChild, "b").id;
  f.table.end(*f.table.find(ended), End::Exit, 2.0);
  std::vector<LedgerRow> rows = {row(ended, 100), row(live, 200), row(ended, 0, 8)};
  f.kernel.ledger = rows;

  f.table.close_ended(rows);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].trace_id, live);
  EXPECT_EQ(f.table.find(ended)->final_rows.size(), 2u);
  EXPECT_TRUE(f.table.find(ended)->closed);
  EXPECT_EQ(f.kernel.dropped, std::vector<TraceId>{ended});
  EXPECT_EQ(f.observer.calls.back(), "closed " + std::to_string(ended));
  // Closed once only.
  f.table.close_ended(rows);
  EXPECT_EQ(f.kernel.dropped.size(), 1u);
}

TEST(ImageTable, PrunesWhatHoldsNothingAndKeepsAtMostKeepExited) {
  Fixture f(ImagePolicy{false, 1});
  TraceId parent = f.add_named(kParent, "a").id;
  f.table.apply(LifecycleEvent{LifecycleEvent::Op::Fork, kParent, parent, kChild, LS_FIRST_KERNEL_ID}, 1.0);
  TraceId older = f.add_named(kOther, "c").id;
  f.table.end(*f.table.live(kChild), End::Exit, 2.0);
  f.table.end(*f.table.find(older), End::Exit, 2.5);
  f.table.end(*f.table.find(parent), End::Exit, 3.0);
  std::vector<LedgerRow> rows;
  f.table.close_ended(rows);

  // The child left nothing: forgotten. Two named images ended; one is kept, the most recent.
  f.table.prune({row(older, 10)});
  EXPECT_EQ(f.table.find(LS_FIRST_KERNEL_ID), nullptr);
  EXPECT_EQ(f.table.find(older), nullptr);
  EXPECT_NE(f.table.find(parent), nullptr);
  std::vector<std::string> forgotten;
  for (const std::string& c : f.observer.calls)
    if (c.rfind("forgotten", 0) == 0) forgotten.push_back(c);
  EXPECT_EQ(forgotten, (std::vector<std::string>{"forgotten " + std::to_string(LS_FIRST_KERNEL_ID),
                                                 "forgotten " + std::to_string(older)}));
}

TEST(ImageTable, AllEndedOnlyWhenNoneIsTracedOrDetached) {
  Fixture f;
  EXPECT_FALSE(f.table.all_ended()) << "nothing traced yet is not the end";
  TraceId a = f.add_named(kParent, "a").id;
  TraceId b = f.add_named(kChild, "b").id;
  f.table.end(*f.table.find(a), End::Exit, 1.0);
  EXPECT_FALSE(f.table.all_ended());
  f.table.end(*f.table.find(b), End::Exit, 1.5);
  EXPECT_TRUE(f.table.all_ended());

  Fixture steered;
  TraceId d = steered.add_named(kOther, "d").id;
  steered.table.end(*steered.table.find(d), End::Detach, 1.0);
  EXPECT_FALSE(steered.table.all_ended()) << "a detach means an operator is steering";
}

}  // namespace
}  // namespace leakscope
