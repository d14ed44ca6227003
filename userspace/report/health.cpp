#include "report/health.h"

namespace leakscope {

std::vector<HealthFigure> Health::figures() const {
  std::vector<HealthFigure> out;
  out.reserve(kHealthFigures.size());
  for (const HealthFigureInfo& f : kHealthFigures)
    out.push_back({f.key, f.loss, f.text, this->*f.field, f.kernel});
  return out;
}

std::vector<HealthLoss> Health::losses() const {
  std::vector<HealthLoss> out;
  for (const HealthFigureInfo& f : kHealthFigures)
    if (!f.loss.empty()) out.push_back({f.loss, f.text, this->*f.field});
  return out;
}

bool Health::lossless() const { return lost_total() == 0; }

uint64_t Health::lost_total() const {
  uint64_t total = 0;
  for (const HealthLoss& loss : losses()) total += loss.value;
  return total;
}

}  // namespace leakscope
