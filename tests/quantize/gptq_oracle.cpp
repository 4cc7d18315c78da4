#include "quantize/gptq_oracle.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace slmkit::test {
namespace {

// Dense row-major float64 matrix.
struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<double> v;
  Matrix(int64_t r, int64_t c) : rows(r), cols(c), v(static_cast<size_t>(r * c), 0.0) {}
  double& operator()(int64_t r, int64_t c) { return v[static_cast<size_t>(r * cols + c)]; }
  double operator()(int64_t r, int64_t c) const { return v[static_cast<size_t>(r * cols + c)]; }
};

Matrix from_tensor(const at::Tensor& t) {
  const at::Tensor d = t.to(at::kDouble).contiguous();
  Matrix m(d.size(0), d.size(1));
  std::copy(d.data_ptr<double>(), d.data_ptr<double>() + d.numel(), m.v.begin());
  return m;
}

// Lower L with L·Lᵀ = a (Cholesky–Banachiewicz).
Matrix cholesky_lower(const Matrix& a) {
  const int64_t n = a.rows;
  Matrix l(n, n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j <= i; ++j) {
      double sum = a(i, j);
      for (int64_t k = 0; k < j; ++k) sum -= l(i, k) * l(j, k);
      if (i == j) {
        if (!(sum > 0)) throw std::runtime_error("gptq_oracle: damped Hessian is not positive-definite");
        l(i, i) = std::sqrt(sum);
      } else {
        l(i, j) = sum / l(j, j);
      }
    }
  }
  return l;
}

// H⁻¹ = L⁻ᵀ·L⁻¹ from the lower factor L of H.
Matrix inverse_from_cholesky(const Matrix& l) {
  const int64_t n = l.rows;
  Matrix linv(n, n);  // forward substitution, one column of the identity at a time
  for (int64_t c = 0; c < n; ++c) {
    for (int64_t i = c; i < n; ++i) {
      double sum = i == c ? 1.0 : 0.0;
      for (int64_t k = c; k < i; ++k) sum -= l(i, k) * linv(k, c);
      linv(i, c) = sum / l(i, i);
    }
  }
  Matrix inv(n, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t k = std::max(i, j); k < n; ++k) sum += linv(k, i) * linv(k, j);
      inv(i, j) = sum;
    }
  return inv;
}

struct Grid {
  double scale = 1, zero = 0;
};

// quant.py's find_params for one row's slice [c0, c1).
Grid fit_grid(const Matrix& w, int64_t r, int64_t c0, int64_t c1, const OracleOptions& o) {
  const double maxq = std::pow(2.0, o.bits) - 1;
  double xmin = 0, xmax = 0;
  for (int64_t c = c0; c < c1; ++c) {
    xmin = std::min(xmin, w(r, c));
    xmax = std::max(xmax, w(r, c));
  }
  if (o.symmetric) {
    xmax = std::max(-xmin, xmax);
    xmin = -xmax;
  }
  if (xmin == 0 && xmax == 0) {
    xmin = -1;
    xmax = 1;
  }
  Grid g;
  g.scale = (xmax - xmin) / maxq;
  g.zero = o.symmetric ? (maxq + 1) / 2 : std::nearbyint(-xmin / g.scale);
  return g;
}

double quantize_value(double x, const Grid& g, int bits) {
  const double maxq = std::pow(2.0, bits) - 1;
  const double q = std::clamp(std::nearbyint(x / g.scale) + g.zero, 0.0, maxq);
  return g.scale * (q - g.zero);
}

}  // namespace

OracleResult gptq_oracle(const at::Tensor& weight, const at::Tensor& hessian, const OracleOptions& o) {
  Matrix w0 = from_tensor(weight);
  Matrix h0 = from_tensor(hessian);
  const int64_t out = w0.rows, in = w0.cols;
  const bool grouped = o.group_size > 0 && o.group_size < in;
  const int64_t group = grouped ? o.group_size : in;

  // dead = diag(H) == 0: H[dead, dead] = 1; W[:, dead] = 0
  for (int64_t c = 0; c < in; ++c) {
    if (h0(c, c) == 0) {
      h0(c, c) = 1;
      for (int64_t r = 0; r < out; ++r) w0(r, c) = 0;
    }
  }
  // Per-row grid, or static grids per contiguous group of original columns.
  const int64_t n_groups = (in + group - 1) / group;
  std::vector<std::vector<Grid>> fixed(static_cast<size_t>(out), std::vector<Grid>(static_cast<size_t>(n_groups)));
  for (int64_t r = 0; r < out; ++r)
    for (int64_t g = 0; g < n_groups; ++g)
      fixed[r][g] = fit_grid(w0, r, g * group, std::min((g + 1) * group, in), o);

  // perm = argsort(diag(H), descending); W = W[:, perm]; H = H[perm][:, perm]
  std::vector<int64_t> perm(static_cast<size_t>(in));
  std::iota(perm.begin(), perm.end(), 0);
  if (o.act_order)
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return h0(a, a) > h0(b, b); });
  Matrix w(out, in), h(in, in);
  for (int64_t r = 0; r < out; ++r)
    for (int64_t c = 0; c < in; ++c) w(r, c) = w0(r, perm[c]);
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j < in; ++j) h(i, j) = 0.5 * (h0(perm[i], perm[j]) + h0(perm[j], perm[i]));

  // H += percdamp · mean(diag H) · I; Hinv = upper Cholesky factor of H⁻¹
  double mean_diag = 0;
  for (int64_t i = 0; i < in; ++i) mean_diag += h(i, i) / static_cast<double>(in);
  const double damp = o.percdamp * mean_diag;
  for (int64_t i = 0; i < in; ++i) h(i, i) += damp;
  const Matrix l_inv = cholesky_lower(inverse_from_cholesky(cholesky_lower(h)));
  // upper U = l_invᵀ: U(i, j) = l_inv(j, i)

  Matrix q(out, in);
  std::vector<Grid> current(static_cast<size_t>(out));
  for (int64_t i = 0; i < in; ++i) {
    for (int64_t r = 0; r < out; ++r) {
      if (!grouped) {
        current[r] = fixed[r][0];
      } else if (o.static_groups) {
        current[r] = fixed[r][perm[i] / group];
      } else if (i % group == 0) {
        current[r] = fit_grid(w, r, i, std::min(i + group, in), o);
      }
      q(r, i) = quantize_value(w(r, i), current[r], o.bits);
      const double err = (w(r, i) - q(r, i)) / l_inv(i, i);
      for (int64_t j = i + 1; j < in; ++j) w(r, j) -= err * l_inv(j, i);
    }
  }

  OracleResult result;
  result.damp = damp;
  result.dequantized = at::empty({out, in}, at::kDouble);
  result.g_idx = at::empty({in}, at::kLong);
  auto deq = result.dequantized.accessor<double, 2>();
  auto g_idx = result.g_idx.accessor<int64_t, 1>();
  for (int64_t pos = 0; pos < in; ++pos) {
    const int64_t c = perm[pos];
    g_idx[c] = (grouped && !o.static_groups) ? pos / group : c / group;
    for (int64_t r = 0; r < out; ++r) deq[r][c] = q(r, pos);
  }
  return result;
}

at::Tensor dequantize_plain(const IntegerWeights& q) {
  const at::Tensor codes = q.codes.to(at::kInt).contiguous();
  const at::Tensor scales = q.scales.to(at::kFloat).contiguous();
  const at::Tensor zeros = q.zeros.to(at::kInt).contiguous();
  const at::Tensor g_idx = q.g_idx.to(at::kLong).contiguous();
  const int64_t out = codes.size(0), in = codes.size(1);
  at::Tensor deq = at::empty({out, in}, at::kDouble);
  auto c = codes.accessor<int32_t, 2>();
  auto s = scales.accessor<float, 2>();
  auto z = zeros.accessor<int32_t, 2>();
  auto g = g_idx.accessor<int64_t, 1>();
  auto d = deq.accessor<double, 2>();
  for (int64_t r = 0; r < out; ++r)
    for (int64_t i = 0; i < in; ++i) {
      // fp32 product as the runtime computes it, stored in double
      d[r][i] = static_cast<double>(s[r][g[i]] * static_cast<float>(c[r][i] - z[r][g[i]]));
    }
  return deq;
}

}  // namespace slmkit::test
