// The runs of the unwind tables' array: first fit, given back and merged,
// so that tables of modules that come and go never leak the array's room.
#include <gtest/gtest.h>

#include "probes/unwind_maps.h"

namespace leakscope {
namespace {

TEST(WordRuns, TakesFirstFitAndRefusesWhatDoesNotFit) {
  WordRuns runs(1, 100);
  EXPECT_EQ(runs.take(40), 1u);
  EXPECT_EQ(runs.take(40), 41u);
  EXPECT_EQ(runs.take(30), std::nullopt);  // 20 words left
  EXPECT_EQ(runs.take(20), 81u);
  EXPECT_EQ(runs.take(1), std::nullopt);
  EXPECT_EQ(runs.take(0), std::nullopt);
  EXPECT_EQ(runs.words_taken(), 100u);
  EXPECT_EQ(runs.runs_taken(), 3u);
}

TEST(WordRuns, RunsGivenBackMergeWithTheirNeighbours) {
  WordRuns runs(1, 100);
  const uint32_t a = *runs.take(30), b = *runs.take(30), c = *runs.take(30);
  runs.give_back(a);
  runs.give_back(c);  // merges with the 10 free words after it
  EXPECT_EQ(runs.take(40), c) << "c's run and the tail are one run of 40";
  runs.give_back(c);
  runs.give_back(b);  // a, b, c and the tail: all of it again
  EXPECT_EQ(runs.words_taken(), 0u);
  EXPECT_EQ(runs.take(100), 1u);
}

TEST(WordRuns, GivingBackWhatWasNotTakenChangesNothing) {
  WordRuns runs(1, 10);
  const uint32_t a = *runs.take(5);
  runs.give_back(a + 1);
  runs.give_back(999);
  EXPECT_EQ(runs.runs_taken(), 1u);
  runs.give_back(a);
  runs.give_back(a);  // twice
  EXPECT_EQ(runs.take(10), 1u);
}

}  // namespace
}  // namespace leakscope
