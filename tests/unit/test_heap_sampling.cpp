#include "tracer/heap_sampling.h"

#include <gtest/gtest.h>

#include "fake_kernel.h"

namespace leakscope {
namespace {

using testing::FakeKernel;

TEST(HeapSampling, KeepsEveryBlockWhileTheMapHasRoom) {
  FakeKernel kernel;
  HeapSampling sampling(kernel, 1000);
  kernel.object_entries = 740;
  for (double t = 0; t < 10; t += 1) sampling.tick(t);
  EXPECT_EQ(kernel.heap_sample_shift, 0u);
  EXPECT_TRUE(sampling.info().steps.empty());
}

TEST(HeapSampling, RaisesTheRateOneStepAtATimeWhileTheMapFillsUp) {
  FakeKernel kernel;
  HeapSampling sampling(kernel, 1000);
  kernel.object_entries = 700;
  sampling.tick(9);
  kernel.object_entries = 800;  // 100 a second: full in 2 s
  sampling.tick(10);
  EXPECT_EQ(kernel.heap_sample_shift, 1u);
  kernel.object_entries = 850;
  sampling.tick(11);  // too soon for the step to have shown
  EXPECT_EQ(kernel.heap_sample_shift, 1u);
  kernel.object_entries = 900;
  sampling.tick(12);
  EXPECT_EQ(kernel.heap_sample_shift, 2u);
  ASSERT_EQ(sampling.info().steps.size(), 2u);
  EXPECT_EQ(sampling.info().steps[0].keep_one_in, 2u);
  EXPECT_DOUBLE_EQ(sampling.info().steps[0].at_seconds, 10);
  EXPECT_NEAR(sampling.info().steps[0].objects_map_fill, 0.8, 1e-9);
  EXPECT_EQ(sampling.info().steps[1].keep_one_in, 4u);
  EXPECT_EQ(sampling.info().shift, 2u);
  kernel.object_entries = 500;  // the rate holds: it never falls back
  sampling.tick(20);
  EXPECT_EQ(kernel.heap_sample_shift, 2u);
}

TEST(HeapSampling, AMapThatLevelledOffKeepsItsRate) {
  FakeKernel kernel;
  HeapSampling sampling(kernel, 1000);
  kernel.object_entries = 800;
  for (double t = 0; t < 30; t += 1) sampling.tick(t);
  EXPECT_EQ(kernel.heap_sample_shift, 0u) << "over the mark but not filling";
  // Filling slowly: full in over a minute at this rate.
  for (double t = 30; t < 60; t += 1) {
    kernel.object_entries += 2;
    sampling.tick(t);
  }
  EXPECT_EQ(kernel.heap_sample_shift, 0u);
}

TEST(HeapSampling, StopsAtTheDeepestRate) {
  FakeKernel kernel;
  HeapSampling sampling(kernel, 1000);
  kernel.object_entries = 1000;  // full: every step taken while it stays full
  for (double t = 0; t < 200; t += 2.5) sampling.tick(t);
  EXPECT_EQ(kernel.heap_sample_shift, uint32_t(LS_MAX_SAMPLE_SHIFT));
  EXPECT_EQ(sampling.info().steps.size(), size_t(LS_MAX_SAMPLE_SHIFT));
}

TEST(HeapSampling, LeavesAKernelWithoutHeapKindAlone) {
  FakeKernel kernel;
  kernel.heap = false;
  HeapSampling sampling(kernel, 1000);
  kernel.object_entries = 1000;
  sampling.tick(5);
  EXPECT_EQ(kernel.heap_sample_shift, 0u);
}

}  // namespace
}  // namespace leakscope
