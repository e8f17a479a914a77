// Byte dot products, bit-to-byte spreading and prefetch: what Swift's SIMD types cannot express.
//
// forge_dot_u8s8: for each group of 4 bytes, acc[i] += sum of a[4i+k] * b[4i+k], a unsigned, b signed
// (AVX-512 VNNI vpdpbusd, or AVX2 vpmaddubsw + vpmaddwd, or a scalar loop elsewhere). Products of
// 4-bit or 7-bit unsigned values with int8 never saturate the AVX2 16-bit pair sums. forge_pairs_u8s8 and
// forge_madd_i16 are those two AVX2 steps apart, for kernels that sum int16 pairs or scale them on the way.
// The branch is chosen at compile time from the target CPU the Swift targets are built for.
#ifndef FORGE_BYTE_DOT_H
#define FORGE_BYTE_DOT_H
#include <stdint.h>
#if defined(__x86_64__) && (defined(__AVX2__) || defined(__AVX512VNNI__) || defined(__AVX512BW__))
#include <immintrin.h>
#endif

typedef uint8_t forge_u8x32 __attribute__((ext_vector_type(32)));
typedef int8_t forge_i8x32 __attribute__((ext_vector_type(32)));
typedef int32_t forge_i32x8 __attribute__((ext_vector_type(8)));
typedef int16_t forge_i16x16 __attribute__((ext_vector_type(16)));
typedef int8_t forge_i8x16 __attribute__((ext_vector_type(16)));

/// acc + per-4-byte sums of a[i]·b[i] (a: 0...127 here, b: int8).
static inline __attribute__((always_inline)) forge_i32x8 forge_dot_u8s8(forge_i32x8 acc, forge_u8x32 a, forge_i8x32 b) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return (forge_i32x8)_mm256_dpbusd_epi32((__m256i)acc, (__m256i)a, (__m256i)b);
#elif defined(__AVXVNNI__)
    return (forge_i32x8)_mm256_dpbusd_avx_epi32((__m256i)acc, (__m256i)a, (__m256i)b);
#elif defined(__AVX2__)
    __m256i pairs = _mm256_maddubs_epi16((__m256i)a, (__m256i)b);
    return acc + (forge_i32x8)_mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
#else
    forge_i32x8 r = acc;
    for (int i = 0; i < 32; i++) r[i / 4] += (int32_t)a[i] * (int32_t)b[i];
    return r;
#endif
}

/// acc + per-4-byte sums of a[i]·b[i], both int8 (|a| is moved into the unsigned operand, its sign onto b).
static inline __attribute__((always_inline)) forge_i32x8 forge_dot_s8s8(forge_i32x8 acc, forge_i8x32 a, forge_i8x32 b) {
#if defined(__x86_64__) && defined(__AVX2__)
    __m256i ua = _mm256_sign_epi8((__m256i)a, (__m256i)a);
    __m256i sb = _mm256_sign_epi8((__m256i)b, (__m256i)a);
    return forge_dot_u8s8(acc, (forge_u8x32)ua, (forge_i8x32)sb);
#else
    forge_i32x8 r = acc;
    for (int i = 0; i < 32; i++) r[i / 4] += (int32_t)a[i] * (int32_t)b[i];
    return r;
#endif
}

/// a[2i]·b[2i] + a[2i+1]·b[2i+1] as int16, a unsigned, b signed (vpmaddubsw; the sums saturate at ±32767, which
/// products of values up to 63 with int8 never reach).
static inline __attribute__((always_inline)) forge_i16x16 forge_pairs_u8s8(forge_u8x32 a, forge_i8x32 b) {
#if defined(__x86_64__) && defined(__AVX2__)
    return (forge_i16x16)_mm256_maddubs_epi16((__m256i)a, (__m256i)b);
#else
    forge_i16x16 r;
    for (int i = 0; i < 16; i++) {
        int s = (int)a[2 * i] * b[2 * i] + (int)a[2 * i + 1] * b[2 * i + 1];
        r[i] = (int16_t)(s > 32767 ? 32767 : s < -32768 ? -32768 : s);
    }
    return r;
#endif
}

/// acc + a[2i]·s[2i] + a[2i+1]·s[2i+1] per int32 lane, all int16 (vpmaddwd).
static inline __attribute__((always_inline)) forge_i32x8 forge_madd_i16(forge_i32x8 acc, forge_i16x16 a, forge_i16x16 s) {
#if defined(__x86_64__) && defined(__AVX2__)
    return acc + (forge_i32x8)_mm256_madd_epi16((__m256i)a, (__m256i)s);
#else
    forge_i32x8 r = acc;
    for (int i = 0; i < 8; i++) r[i] += (int32_t)a[2 * i] * s[2 * i] + (int32_t)a[2 * i + 1] * s[2 * i + 1];
    return r;
#endif
}

/// The same sum with `bias` = −128 × the per-4-byte sums of b given: with VNNI, a + 128 (unsigned) meets b
/// in one vpdpbusd and the bias takes the extra 128·Σb back out, exactly; otherwise as forge_dot_s8s8.
static inline __attribute__((always_inline)) forge_i32x8 forge_dot_s8s8_biased(forge_i32x8 acc, forge_i8x32 a, forge_i8x32 b,
                                                                               forge_i32x8 bias) {
#if (defined(__AVX512VNNI__) && defined(__AVX512VL__)) || defined(__AVXVNNI__)
    forge_u8x32 ua = (forge_u8x32)a ^ (forge_u8x32)(uint8_t)0x80;
    return forge_dot_u8s8(acc + bias, ua, b);
#else
    (void)bias;
    return forge_dot_s8s8(acc, a, b);
#endif
}

/// Scales a and a + 1 of 16 int8 scales widened to int16 lanes 0..<8 and 8..<16 (AVX2: one byte shuffle and one
/// sign extension, as llama.cpp spreads Q6_K's scales; `a` is a constant where this is inlined).
static inline __attribute__((always_inline)) forge_i16x16 forge_scale_pair(forge_i8x16 scales, int a) {
#if defined(__x86_64__) && defined(__AVX2__)
    const __m128i index = _mm_set_epi64x(0x0101010101010101LL * (a + 1), 0x0101010101010101LL * a);
    return (forge_i16x16)_mm256_cvtepi8_epi16(_mm_shuffle_epi8((__m128i)scales, index));
#else
    forge_i16x16 r;
    for (int i = 0; i < 16; i++) r[i] = scales[a + i / 8];
    return r;
#endif
}

/// Per int32 lane i: s[2i]·v[2i] + s[2i+1]·v[2i+1] for 16 int8 scales s and 16 int32 values v (lo: 0..<8, hi: 8..<16)
/// that fit in int16 (AVX2: narrowed with vpackssdw + vpermq, then one vpmaddwd).
static inline __attribute__((always_inline)) forge_i32x8 forge_scale_sums(forge_i8x16 s, forge_i32x8 lo, forge_i32x8 hi) {
#if defined(__x86_64__) && defined(__AVX2__)
    __m256i v = _mm256_permute4x64_epi64(_mm256_packs_epi32((__m256i)lo, (__m256i)hi), 0xD8);
    return (forge_i32x8)_mm256_madd_epi16(_mm256_cvtepi8_epi16((__m128i)s), v);
#else
    forge_i32x8 r;
    for (int i = 0; i < 8; i++) {
        int32_t v0 = i < 4 ? lo[2 * i] : hi[2 * i - 8], v1 = i < 4 ? lo[2 * i + 1] : hi[2 * i - 7];
        r[i] = (int32_t)s[2 * i] * v0 + (int32_t)s[2 * i + 1] * v1;
    }
    return r;
#endif
}

/// 1 when forge_dot_u8s8 is a VNNI instruction (exact for any unsigned bytes); 0 when it is AVX2's
/// vpmaddubsw, whose 16-bit pair sums saturate once the unsigned bytes exceed 128.
static inline __attribute__((always_inline)) int forge_has_vnni(void) {
#if (defined(__AVX512VNNI__) && defined(__AVX512VL__)) || defined(__AVXVNNI__)
    return 1;
#else
    return 0;
#endif
}

/// 0x10 in byte i where bit i of `bits` is set, else 0: the fifth bits of a Q5_0/Q5_1 block as bytes
/// (AVX-512: one masked broadcast; AVX2: llama.cpp's shuffle, or and compare).
static inline __attribute__((always_inline)) forge_u8x32 forge_bits_to_0x10(uint32_t bits) {
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    return (forge_u8x32)_mm256_maskz_set1_epi8(bits, 0x10);
#elif defined(__AVX2__)
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return (forge_u8x32)_mm256_and_si256(_mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(0x10));
#else
    forge_u8x32 r;
    for (int i = 0; i < 32; i++) r[i] = (bits >> i & 1) ? 0x10 : 0;
    return r;
#endif
}

typedef uint8_t forge_u8x64 __attribute__((ext_vector_type(64)));
typedef int32_t forge_i32x16 __attribute__((ext_vector_type(16)));

/// 1 when the 16-lane byte dot product below is one AVX-512 VNNI instruction (zmm); 0 when it is a scalar loop.
static inline __attribute__((always_inline)) int forge_has_vnni512(void) {
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
    return 1;
#else
    return 0;
#endif
}

/// acc + per-4-byte sums of a[i] (unsigned) times the 4 signed bytes at x, the same 4 bytes for all 16 lanes
/// (vpdpbusd zmm with an embedded broadcast: 64 products in one instruction).
static inline __attribute__((always_inline)) forge_i32x16 forge_dot16_u8s8(forge_i32x16 acc, forge_u8x64 a, const void *x) {
    int32_t v;
    __builtin_memcpy(&v, x, 4);
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
    return (forge_i32x16)_mm512_dpbusd_epi32((__m512i)acc, (__m512i)a, _mm512_set1_epi32(v));
#else
    const int8_t *b = (const int8_t *)&v;
    forge_i32x16 r = acc;
    for (int i = 0; i < 64; i++) r[i / 4] += (int32_t)a[i] * (int32_t)b[i % 4];
    return r;
#endif
}

typedef int8_t forge_i8x64 __attribute__((ext_vector_type(64)));
typedef int16_t forge_i16x32 __attribute__((ext_vector_type(32)));

/// forge_pairs_u8s8 on 64 bytes (vpmaddubsw zmm; two 32-byte halves without AVX-512BW).
static inline __attribute__((always_inline)) forge_i16x32 forge_pairs_u8s8_x64(forge_u8x64 a, forge_i8x64 b) {
#if defined(__AVX512BW__)
    return (forge_i16x32)_mm512_maddubs_epi16((__m512i)a, (__m512i)b);
#else
    forge_u8x32 a0, a1;
    forge_i8x32 b0, b1;
    __builtin_memcpy(&a0, &a, 32); __builtin_memcpy(&a1, (const char *)&a + 32, 32);
    __builtin_memcpy(&b0, &b, 32); __builtin_memcpy(&b1, (const char *)&b + 32, 32);
    forge_i16x16 r0 = forge_pairs_u8s8(a0, b0), r1 = forge_pairs_u8s8(a1, b1);
    forge_i16x32 r;
    __builtin_memcpy(&r, &r0, 32); __builtin_memcpy((char *)&r + 32, &r1, 32);
    return r;
#endif
}

/// forge_madd_i16 on 32 int16 lanes into 16 int32 lanes (vpmaddwd zmm; two halves without AVX-512BW).
static inline __attribute__((always_inline)) forge_i32x16 forge_madd_i16_x32(forge_i32x16 acc, forge_i16x32 a, forge_i16x32 s) {
#if defined(__AVX512BW__)
    return acc + (forge_i32x16)_mm512_madd_epi16((__m512i)a, (__m512i)s);
#else
    forge_i16x16 a0, a1, s0, s1;
    forge_i32x8 c0, c1;
    __builtin_memcpy(&a0, &a, 32); __builtin_memcpy(&a1, (const char *)&a + 32, 32);
    __builtin_memcpy(&s0, &s, 32); __builtin_memcpy(&s1, (const char *)&s + 32, 32);
    __builtin_memcpy(&c0, &acc, 32); __builtin_memcpy(&c1, (const char *)&acc + 32, 32);
    c0 = forge_madd_i16(c0, a0, s0);
    c1 = forge_madd_i16(c1, a1, s1);
    forge_i32x16 r;
    __builtin_memcpy(&r, &c0, 32); __builtin_memcpy((char *)&r + 32, &c1, 32);
    return r;
#endif
}

/// 0x10 in byte i < 32 where bit i of `lo` is set and in byte 32 + i where bit i of `hi` is set (one masked broadcast).
static inline __attribute__((always_inline)) forge_u8x64 forge_bits_to_0x10_x64(uint32_t lo, uint32_t hi) {
#if defined(__AVX512BW__)
    return (forge_u8x64)_mm512_maskz_set1_epi8(((uint64_t)hi << 32) | lo, 0x10);
#else
    forge_u8x64 r;
    for (int i = 0; i < 32; i++) { r[i] = (lo >> i & 1) ? 0x10 : 0; r[32 + i] = (hi >> i & 1) ? 0x10 : 0; }
    return r;
#endif
}

/// The largest |x[i]| of 32 floats (max instructions on the cleared sign bits, as ggml's AVX quantizers take a block's
/// amax); Swift's SIMD compare-and-select for this compiles to lane-by-lane shuffles.
static inline __attribute__((always_inline)) float forge_amax32(const float *x) {
#if defined(__x86_64__) && defined(__AVX512F__)
    const __m512 sign = _mm512_set1_ps(-0.0f);
    return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, _mm512_loadu_ps(x)), _mm512_andnot_ps(sign, _mm512_loadu_ps(x + 16))));
#elif defined(__x86_64__) && defined(__AVX2__)
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x)), _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8)));
    __m256 b = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)), _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24)));
    a = _mm256_max_ps(a, b);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
#else
    float m = 0;
    for (int i = 0; i < 32; i++) { float v = x[i] < 0 ? -x[i] : x[i]; m = v > m ? v : m; }
    return m;
#endif
}

/// Asks for the cache line at p ahead of use (weights streamed from memory by the matrix-vector products).
static inline __attribute__((always_inline)) void forge_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
#endif
