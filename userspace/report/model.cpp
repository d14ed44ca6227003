#include "report/model.h"

#include <algorithm>

namespace leakscope {

namespace {
int verdict_rank(Verdict v) {
  switch (v) {
    case Verdict::Leak: return 0;
    case Verdict::Growing: return 1;
    case Verdict::Early: return 2;  // by its rate so far, before what has been judged quiet
    case Verdict::Stable: return 3;
    case Verdict::Shrinking: return 4;
  }
  return 5;
}
}  // namespace

void rank_stacks(std::vector<StackEntry>& stacks) {
  std::stable_sort(stacks.begin(), stacks.end(), [](const StackEntry& a, const StackEntry& b) {
    int va = verdict_rank(a.assessment.verdict), vb = verdict_rank(b.assessment.verdict);
    if (va != vb) return va < vb;
    if (a.rank_score != b.rank_score) return a.rank_score > b.rank_score;
    if (a.assessment.evidence.rate != b.assessment.evidence.rate)
      return a.assessment.evidence.rate > b.assessment.evidence.rate;
    if (a.growth_bytes_per_sec != b.growth_bytes_per_sec)
      return a.growth_bytes_per_sec > b.growth_bytes_per_sec;
    if (a.live_bytes != b.live_bytes) return a.live_bytes > b.live_bytes;
    if (a.pid != b.pid) return a.pid < b.pid;
    return a.stack_id < b.stack_id;
  });
}

}  // namespace leakscope
