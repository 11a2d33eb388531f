#include "spec/accept.h"

#include <algorithm>
#include <unordered_map>

namespace kiln {

accept_result spec_accept_sampled(const std::vector<token_prob>& p, const std::vector<token_prob>* q, int32_t d,
                                  double u_accept, double u_resample) {
    double p_d = 0.0;
    for (const auto& t : p) {
        if (t.id == d) {
            p_d = t.p;
            break;
        }
    }
    std::unordered_map<int32_t, double> qm;
    double q_d = 1.0;
    if (q) {
        qm.reserve(q->size());
        for (const auto& t : *q) qm[t.id] = t.p;
        const auto it = qm.find(d);
        q_d = it == qm.end() ? 0.0 : it->second;
    } else {
        qm[d] = 1.0;
    }
    // q(d) > 0 whenever d was really drawn from q; a zero leaves only p(d) > 0 to decide.
    const double ratio = q_d > 0.0 ? p_d / q_d : (p_d > 0.0 ? 1.0 : 0.0);
    if (u_accept < ratio) return {true, d};

    // Rejected: the residual max(p - q, 0) carries exactly the mass p has beyond what q proposed.
    std::vector<double> r(p.size());
    double sum = 0.0;
    for (size_t i = 0; i < p.size(); ++i) {
        const auto it = qm.find(p[i].id);
        const double qv = it == qm.end() ? 0.0 : it->second;
        r[i] = std::max(static_cast<double>(p[i].p) - qv, 0.0);
        sum += r[i];
    }
    if (!(sum > 1e-12)) return {false, sample_from(p, u_resample)};  // rounding left no residual
    const double target = u_resample * sum;
    double cum = 0.0;
    for (size_t i = 0; i < p.size(); ++i) {
        cum += r[i];
        if (r[i] > 0.0 && target < cum) return {false, p[i].id};
    }
    for (size_t i = p.size(); i-- > 0;) {
        if (r[i] > 0.0) return {false, p[i].id};
    }
    return {false, p.back().id};
}

}  // namespace kiln
