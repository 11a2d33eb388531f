// Summary statistics of repeated measurements (kiln bench).
#pragma once

#include <vector>

namespace kiln {

struct sample_stats {
    int n = 0;
    double mean = 0, sd = 0, median = 0, min = 0, max = 0;  // sd: sample standard deviation (n - 1)
};

sample_stats stats_of(std::vector<double> v);

}  // namespace kiln
