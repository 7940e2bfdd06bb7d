// One shuffled mini-batch SGD epoch of the sigmoid neuron, for S seeds x L learning rates, as an XLA FFI
// custom call on the CPU (jaxsgd.train.epoch's native path; jaxsgd/train/_native.py builds and registers it).
//
// For every seed s, its permutation perms[s] cut into batches of B rows (the last N mod B rows dropped, or
// taken as one smaller batch); each batch gathered once, feature-major, then for every learning rate l:
//   z = b + w.x,  e = exp(-|z|),  h = sigma(z) (1/(1+e) or e/(1+e)),  sigma'(z) = e/(1+e)^2,
//   g = (1/|batch|) sum (h - y) sigma'(z) (1, x),  theta <- theta + (-alpha) g
// (runtime_sgd's update), in the parameters' dtype (float32 or float64). The loops over a batch's rows are
// vectorised (OpenMP simd; the exponential from glibc's libmvec where it is linked), so the sums are
// reassociated: the result equals the XLA scan's to rounding, not bit for bit.
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

#ifndef JAXSGD_NO_MVEC
extern "C" {
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
double exp(double);
}
#endif

template <typename T> static inline T exp_of(T v);
template <> inline float exp_of<float>(float v) { return expf(v); }
template <> inline double exp_of<double>(double v) { return exp(v); }

// One step of run (b, w) on a batch held feature-major: feature k of row r at xb[k * ld + r], yb[r], r < m.
constexpr int64_t SMALL = 8;  // batches below this many rows take one scalar loop (no vector set-up)
constexpr int64_t SMALL_D = 32;  // ... when the features fit its accumulators

template <typename T>
static inline T dz_of(T z, T y, T inv_m) {
  const T e = exp_of<T>(-std::fabs(z));
  const T inv = T(1) / (T(1) + e);
  const T h = z >= T(0) ? inv : e * inv;
  return (h - y) * (e * inv * inv) * inv_m;
}

// One step as above with D features, a compile-time constant: z, sigma'(z) and the sums in one vector pass.
template <typename T, int D>
static inline void step_d(T &b, T *w, const T *xb, int64_t ld, const T *yb, int64_t m, T lr) {
  const T inv_m = T(1) / T(m), b0 = b;
  T wk[D], gw[D] = {}, gb = 0;
  for (int k = 0; k < D; k++) wk[k] = w[k];
#pragma omp simd reduction(+ : gb, gw[:D])
  for (int64_t r = 0; r < m; r++) {
    T z = b0;
    for (int k = 0; k < D; k++) z += wk[k] * xb[k * ld + r];
    const T dz = dz_of<T>(z, yb[r], inv_m);
    gb += dz;
    for (int k = 0; k < D; k++) gw[k] += dz * xb[k * ld + r];
  }
  for (int k = 0; k < D; k++) w[k] += (-lr) * gw[k];
  b += (-lr) * gb;
}

template <typename T>
using FusedStep = void (*)(T &, T *, const T *, int64_t, const T *, int64_t, T);

// f(std::integral_constant<int, d>{}) for d = 1..8 (the features as a compile-time constant), else nullptr.
template <typename R, typename F>
static R by_features(int64_t d, F f) {
  switch (d) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    case 7: return f(std::integral_constant<int, 7>{});
    case 8: return f(std::integral_constant<int, 8>{});
    default: return nullptr;  // more features: the general loops
  }
}

template <typename T>
static FusedStep<T> fused_step(int64_t d) {
  return by_features<FusedStep<T>>(d, [](auto k) { return &step_d<T, decltype(k)::value>; });
}

// One step of run (b, w); `fused` (fused_step(d), or nullptr) takes batches of SMALL rows or more.
template <typename T>
static inline void step(T &b, T *w, int64_t d, const T *xb, int64_t ld, const T *yb, int64_t m, T lr, T *z,
                        FusedStep<T> fused) {
  const T inv_m = T(1) / T(m);
  if (m >= SMALL && fused != nullptr) {
    fused(b, w, xb, ld, yb, m, lr);
    return;
  }
  if (m < SMALL && d <= SMALL_D) {
    T gw[SMALL_D] = {}, gb = 0;
    for (int64_t r = 0; r < m; r++) {
      T zr = b;
      for (int64_t k = 0; k < d; k++) zr += w[k] * xb[k * ld + r];
      const T dz = dz_of<T>(zr, yb[r], inv_m);
      gb += dz;
      for (int64_t k = 0; k < d; k++) gw[k] += dz * xb[k * ld + r];
    }
    for (int64_t k = 0; k < d; k++) w[k] += (-lr) * gw[k];
    b += (-lr) * gb;
    return;
  }
  for (int64_t r = 0; r < m; r++) z[r] = b;
  for (int64_t k = 0; k < d; k++) {
    const T wk = w[k];
    const T *xk = xb + k * ld;
#pragma omp simd
    for (int64_t r = 0; r < m; r++) z[r] += wk * xk[r];
  }
  T gb = 0;
#pragma omp simd reduction(+ : gb)
  for (int64_t r = 0; r < m; r++) {
    const T dz = dz_of<T>(z[r], yb[r], inv_m);
    z[r] = dz;
    gb += dz;
  }
  for (int64_t k = 0; k < d; k++) {
    const T *xk = xb + k * ld;
    T g = 0;
#pragma omp simd reduction(+ : g)
    for (int64_t r = 0; r < m; r++) g += z[r] * xk[r];
    w[k] += (-lr) * g;
  }
  b += (-lr) * gb;
}

// One step of up to LANES runs of one seed on its batch (feature k of row r at xb[k * ld + r]), the runs in
// the vector lanes: b[l], w[k * LANES + l], learning rates lr[l]; D features, a compile-time constant.
constexpr int64_t LANES = 8;

template <typename T, int D>
static inline void step_lanes(T *b, T *w, const T *xb, int64_t ld, const T *yb, int64_t m, const T *lr) {
  const T inv_m = T(1) / T(m);
  T gb[LANES] = {}, gw[D * LANES] = {};
  for (int64_t r = 0; r < m; r++) {
    T x[D];
    for (int k = 0; k < D; k++) x[k] = xb[k * ld + r];
    const T yr = yb[r];
#pragma omp simd
    for (int64_t l = 0; l < LANES; l++) {
      T z = b[l];
      for (int k = 0; k < D; k++) z += w[k * LANES + l] * x[k];
      const T dz = dz_of<T>(z, yr, inv_m);
      gb[l] += dz;
      for (int k = 0; k < D; k++) gw[k * LANES + l] += dz * x[k];
    }
  }
#pragma omp simd
  for (int64_t l = 0; l < LANES; l++) {
    b[l] += (-lr[l]) * gb[l];
    for (int k = 0; k < D; k++) w[k * LANES + l] += (-lr[l]) * gw[k * LANES + l];
  }
}

template <typename T>
using LaneStep = void (*)(T *, T *, const T *, int64_t, const T *, int64_t, const T *);

template <typename T>
static LaneStep<T> lane_step(int64_t d) {  // more features than 8: the rates one after another
  return by_features<LaneStep<T>>(d, [](auto k) { return &step_lanes<T, decltype(k)::value>; });
}

#ifndef JAXSGD_BY_RATES
#define JAXSGD_BY_RATES 4
#endif
constexpr int64_t BY_RATES = JAXSGD_BY_RATES;  // from this many learning rates per seed, they share the lanes

#ifndef JAXSGD_AHEAD
#define JAXSGD_AHEAD 128
#endif
constexpr int64_t AHEAD = JAXSGD_AHEAD;  // rows between a row's prefetch and its gather

template <typename T>
static void epoch(const T *b_in, const T *w_in, const T *lr, const int32_t *perms, const T *rows, int64_t s_count,
                  int64_t l_count, int64_t n, int64_t d, int64_t bsz, bool drop_last, T *b_out, T *w_out,
                  T *b_trace, T *w_trace) {
  const int64_t runs = s_count * l_count;
  for (int64_t i = 0; i < runs; i++) b_out[i] = b_in[i];
  for (int64_t i = 0; i < runs * d; i++) w_out[i] = w_in[i];
  std::vector<T> xb(d * bsz), yb(bsz), z(bsz);
  const int64_t nb = n / bsz, rem = n % bsz;
  const int64_t batches = nb + (rem && !drop_last ? 1 : 0);
  const LaneStep<T> lanes = l_count >= BY_RATES ? lane_step<T>(d) : nullptr;
  const FusedStep<T> fused = fused_step<T>(d);
  const int64_t groups = (l_count + LANES - 1) / LANES;  // the rates in groups of LANES, the last one padded
  std::vector<T> bs(lanes ? groups * LANES : 0), ws(lanes ? groups * LANES * d : 0), ls(lanes ? groups * LANES : 0);
  for (int64_t s = 0; s < s_count; s++) {
    const int32_t *perm = perms + s * n;
    if (lanes)  // this seed's runs, rates innermost: group g, lane l is rate g * LANES + l (padding: the last one)
      for (int64_t i = 0; i < groups * LANES; i++) {
        const int64_t run = s * l_count + (i < l_count ? i : l_count - 1), g = i / LANES, l = i % LANES;
        bs[i] = b_out[run];
        ls[i] = lr[run];
        for (int64_t k = 0; k < d; k++) ws[(g * d + k) * LANES + l] = w_out[run * d + k];
      }
    for (int64_t kb = 0; kb < batches; kb++) {
      const int64_t start = kb * bsz, m = kb < nb ? bsz : rem;
      for (int64_t r = 0; r < m; r++) {  // the batch gathered once for the L rates, feature-major
        // the row AHEAD places further on is fetched now: the gather's cache misses overlap, not queue
        const int64_t ahead = start + r + AHEAD < n ? start + r + AHEAD : n - 1;
        __builtin_prefetch(rows + int64_t(perm[ahead]) * (d + 1));
        const T *row = rows + int64_t(perm[start + r]) * (d + 1);
        for (int64_t k = 0; k < d; k++) xb[k * m + r] = row[k];
        yb[r] = row[d];
      }
      if (lanes) {  // the rates side by side: every row once, the rates in the vector lanes
        for (int64_t g = 0; g < groups; g++)
          lanes(bs.data() + g * LANES, ws.data() + g * d * LANES, xb.data(), m, yb.data(), m, ls.data() + g * LANES);
        if (b_trace != nullptr && kb < nb)
          for (int64_t i = 0; i < l_count; i++) {
            const int64_t run = s * l_count + i, g = i / LANES, l = i % LANES;
            b_trace[kb * runs + run] = bs[i];
            for (int64_t k = 0; k < d; k++) w_trace[(kb * runs + run) * d + k] = ws[(g * d + k) * LANES + l];
          }
        continue;
      }
      for (int64_t l = 0; l < l_count; l++) {
        const int64_t run = s * l_count + l;
        step<T>(b_out[run], w_out + run * d, d, xb.data(), m, yb.data(), m, lr[run], z.data(), fused);
        if (b_trace != nullptr && kb < nb) {  // the parameters after every full batch: (nb, S, L), (nb, S, L, d)
          b_trace[kb * runs + run] = b_out[run];
          for (int64_t k = 0; k < d; k++) w_trace[(kb * runs + run) * d + k] = w_out[run * d + k];
        }
      }
    }
    if (lanes)
      for (int64_t i = 0; i < l_count; i++) {
        const int64_t run = s * l_count + i, g = i / LANES, l = i % LANES;
        b_out[run] = bs[i];
        for (int64_t k = 0; k < d; k++) w_out[run * d + k] = ws[(g * d + k) * LANES + l];
      }
  }
}

// Fisher-Yates exactly as numpy's Generator.shuffle draws it (numpy/random/_generator.pyx, random_interval):
// for i = n - 1 down to 1, j is the first v = u & mask(i) <= i of the 32-bit stream u (the generator's 64-bit
// outputs, low half first), mask(i) the smallest 2^k - 1 >= i; then perm[i] and perm[j] swap. Resumable:
// `i` is the next index to draw for; returns the next one still to draw when u runs out (0: done), every
// value drawn for it so far having been rejected. js: room for nu + 1 indices. The draws are made first,
// branch-free within each mask, then the swaps, each row prefetched a few swaps ahead.
extern "C" int64_t jaxsgd_shuffle(int32_t *perm, int64_t i, const uint32_t *u, int64_t nu, int32_t *js) {
  if (i <= 0 || nu <= 0) return i > 0 ? i : 0;
  int64_t p = 0, c = 0;
  while (i - c > 0 && p < nu) {
    const uint32_t top = uint32_t(i - c);  // >= 1
    const uint32_t mask = 0xffffffffu >> __builtin_clz(top);
    const int64_t half = mask >> 1;  // the indices this mask serves: (half, mask]
    while (p < nu) {
      const int64_t max = i - c;
      if (max <= half) break;
      const uint32_t v = u[p++] & mask;
      js[c] = int32_t(v);
      c += int64_t(v) <= max;  // accepted: the next index; rejected: written over by the next draw
    }
  }
  constexpr int64_t PREFETCH = 16;
  for (int64_t t = 0; t < c; t++) {
    if (t + PREFETCH < c) __builtin_prefetch(perm + js[t + PREFETCH], 1);
    const int64_t a = i - t, b = js[t];
    const int32_t tmp = perm[b];
    perm[b] = perm[a];
    perm[a] = tmp;
  }
  return i - c;
}

template <typename T>
static ffi::Error run(ffi::AnyBuffer b, ffi::AnyBuffer w, ffi::AnyBuffer lr, const int32_t *perms, ffi::AnyBuffer rows,
                      int64_t s, int64_t l, int64_t n, int64_t d, int64_t batch_size, bool drop_last, bool trace,
                      ffi::Result<ffi::AnyBuffer> &b_out, ffi::Result<ffi::AnyBuffer> &w_out,
                      ffi::Result<ffi::AnyBuffer> &b_trace, ffi::Result<ffi::AnyBuffer> &w_trace) {
  epoch<T>(b.typed_data<T>(), w.typed_data<T>(), lr.typed_data<T>(), perms, rows.typed_data<T>(), s, l, n, d,
           batch_size, drop_last, b_out->typed_data<T>(), w_out->typed_data<T>(),
           trace ? b_trace->typed_data<T>() : nullptr, trace ? w_trace->typed_data<T>() : nullptr);
  return ffi::Error::Success();
}

static ffi::Error Epoch(ffi::AnyBuffer b, ffi::AnyBuffer w, ffi::AnyBuffer lr, ffi::Buffer<ffi::S32> perms,
                        ffi::AnyBuffer rows, int64_t batch_size, bool drop_last, bool trace,
                        ffi::Result<ffi::AnyBuffer> b_out, ffi::Result<ffi::AnyBuffer> w_out,
                        ffi::Result<ffi::AnyBuffer> b_trace, ffi::Result<ffi::AnyBuffer> w_trace) {
  auto wd = w.dimensions();
  auto pd = perms.dimensions();
  auto rd = rows.dimensions();
  if (wd.size() != 3 || pd.size() != 2 || rd.size() != 2) return ffi::Error::InvalidArgument("jaxsgd_epoch: bad ranks");
  const int64_t s = wd[0], l = wd[1], d = wd[2], n = rd[0];
  if (rd[1] != d + 1 || pd[0] != s || pd[1] != n || batch_size < 1 || batch_size > n ||
      b.element_count() != size_t(s * l) || lr.element_count() != size_t(s * l) ||
      rows.element_type() != w.element_type() || b.element_type() != w.element_type() ||
      lr.element_type() != w.element_type())
    return ffi::Error::InvalidArgument("jaxsgd_epoch: inconsistent shapes or dtypes");
  if (trace && (b_trace->element_count() != size_t((n / batch_size) * s * l) ||
                w_trace->element_count() != size_t((n / batch_size) * s * l * d)))
    return ffi::Error::InvalidArgument("jaxsgd_epoch: trace outputs of the wrong size");
  const int32_t *pp = perms.typed_data();
  for (int64_t i = 0; i < s * n; i++)  // a row index out of range would read outside the data
    if (pp[i] < 0 || pp[i] >= n) return ffi::Error::InvalidArgument("jaxsgd_epoch: a permutation index is out of range");
  switch (w.element_type()) {
    case ffi::F32:
      return run<float>(b, w, lr, pp, rows, s, l, n, d, batch_size, drop_last, trace, b_out, w_out, b_trace, w_trace);
    case ffi::F64:
      return run<double>(b, w, lr, pp, rows, s, l, n, d, batch_size, drop_last, trace, b_out, w_out, b_trace, w_trace);
    default:
      return ffi::Error::InvalidArgument("jaxsgd_epoch: float32 or float64 only");
  }
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(jaxsgd_epoch, Epoch,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Attr<int64_t>("batch_size")
                                  .Attr<bool>("drop_last")
                                  .Attr<bool>("trace")
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>());
