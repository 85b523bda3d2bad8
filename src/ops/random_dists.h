// Distributions over Philox words for random_fill.h: each turns the words of one draw into one
// (or, for Box-Muller, two) values. Uniforms: 24-bit for float accumulation (one word), 53-bit
// for double (two words), as torch's CPU generator does.
#pragma once

#include <cmath>
#include <cstdint>

#include <c10/util/Half.h>
#include <c10/util/BFloat16.h>

namespace dtensor::random {

template <class A>
constexpr int kWordsOf = sizeof(A) / 4;

// [0, 1)
template <class A>
inline A unit(const uint32_t* w);
template <>
inline float unit<float>(const uint32_t* w) {
  return static_cast<float>(w[0] >> 8) * 0x1p-24f;
}
template <>
inline double unit<double>(const uint32_t* w) {
  return static_cast<double>(((uint64_t{w[0]} << 32) | w[1]) >> 11) * 0x1p-53;
}

// Elementwise transform of one uniform: value = f(u), u in [0, 1).
template <class A, class F>
struct FromUniform {
  static constexpr int kWords = kWordsOf<A>;
  static constexpr int kPerDraw = 1;
  F f;
  template <class T>
  void operator()(const uint32_t* w, int64_t, int64_t n, T* out) const {
    for (int64_t j = 0; j < n; ++j) out[j] = static_cast<T>(f(unit<A>(w + j * kWords)));
  }
};
template <class A, class F>
FromUniform<A, F> from_uniform(F f) {
  return {f};
}

// Normal(mean, std) by Box-Muller: draw i gives elements 2i (cos) and 2i+1 (sin), each passed
// through `post` (identity, or exp for log-normal).
template <class A, class Post>
struct Normal {
  static constexpr int kWords = 2 * kWordsOf<A>;
  static constexpr int kPerDraw = 2;
  A mean, std;
  Post post;
  template <class T>
  void operator()(const uint32_t* w, int64_t sub, int64_t n, T* out) const {
    constexpr A kTwoPi = static_cast<A>(6.283185307179586476925286766559);
    for (int64_t j = 0; j < n; w += kWords, sub = 0) {
      const A r = std::sqrt(A(-2) * std::log(A(1) - unit<A>(w)));
      const A theta = kTwoPi * unit<A>(w + kWordsOf<A>);
      if (sub == 0) out[j++] = static_cast<T>(post(mean + std * r * std::cos(theta)));
      if (j < n) out[j++] = static_cast<T>(post(mean + std * r * std::sin(theta)));
    }
  }
};

// P(true) = p with p given as a 32-bit threshold: true when the word is below it.
struct Bernoulli {
  static constexpr int kWords = 1;
  static constexpr int kPerDraw = 1;
  uint32_t threshold;
  bool always;  // p == 1
  static Bernoulli with_p(double p) {
    const double t = std::ceil(p * 0x1p32);
    return {t >= 0x1p32 ? 0u : static_cast<uint32_t>(t), t >= 0x1p32};
  }
  template <class T>
  void operator()(const uint32_t* w, int64_t, int64_t n, T* out) const {
    for (int64_t j = 0; j < n; ++j) out[j] = static_cast<T>((w[j] < threshold) | always);
  }
};

// Integers from + [0, range) from 64-bit words; range 0 means 2^64.
struct RandomInt {
  static constexpr int kWords = 2;
  static constexpr int kPerDraw = 1;
  int64_t from;
  uint64_t range;
  template <class T>
  void operator()(const uint32_t* w, int64_t, int64_t n, T* out) const {
    for (int64_t j = 0; j < n; ++j) {
      const uint64_t x = (uint64_t{w[2 * j]} << 32) | w[2 * j + 1];
      out[j] = static_cast<T>(static_cast<int64_t>(static_cast<uint64_t>(from) + (range ? x % range : x)));
    }
  }
};

}  // namespace dtensor::random
