#include "bench/stats.h"

#include <algorithm>
#include <cmath>

namespace kiln {

sample_stats stats_of(std::vector<double> v) {
    sample_stats s;
    s.n = static_cast<int>(v.size());
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    double sum = 0;
    for (double x : v) sum += x;
    s.mean = sum / s.n;
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.sd = s.n > 1 ? std::sqrt(ss / (s.n - 1)) : 0.0;
    s.median = s.n % 2 ? v[static_cast<size_t>(s.n / 2)] : 0.5 * (v[static_cast<size_t>(s.n / 2 - 1)] + v[static_cast<size_t>(s.n / 2)]);
    s.min = v.front();
    s.max = v.back();
    return s;
}

}  // namespace kiln
