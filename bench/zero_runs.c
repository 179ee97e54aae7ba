/*
 * Runs of zeros through XXH3 and XXH64, for BENCHMARKS.md ("The zeros"):
 * - XXH3-64 of n zeros by a shortcut: with zero data a stripe adds a constant to each
 *   accumulator, so a 1 KiB block is one add and the scramble per lane; checked equal to the
 *   library for several lengths, then timed on 16 GiB against the library over a 1 MiB buffer;
 * - XXH64 of 16 GiB of zeros as its zero stripe alone (lane = rotl(lane, 31) * PRIME64_1), the
 *   floor any XXH64 of zeros has, against the library over a buffer.
 *
 *   gcc -O3 -march=native -I node_modules/xxhash-addon/xxHash -o /tmp/zero_runs bench/zero_runs.c && /tmp/zero_runs
 */
#define XXH_INLINE_ALL
#include "xxhash.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t xxh3_zeros(size_t len) {
  uint64_t acc[8] = XXH3_INIT_ACC;
  const uint8_t *secret = XXH3_kSecret;
  size_t secretSize = sizeof(XXH3_kSecret);
  size_t perBlock = (secretSize - XXH_STRIPE_LEN) / XXH_SECRET_CONSUME_RATE;
  size_t blockLen = XXH_STRIPE_LEN * perBlock;
  size_t blocks = (len - 1) / blockLen;
  uint64_t c[8] = {0};
  for (size_t s = 0; s < perBlock; s++)
    for (int i = 0; i < 8; i++) {
      uint64_t key = XXH_readLE64(secret + s * XXH_SECRET_CONSUME_RATE + 8 * i);
      c[i] += (uint64_t)(uint32_t)key * (key >> 32);
    }
  const uint8_t *scramble = secret + secretSize - XXH_STRIPE_LEN;
  uint64_t sk[8];
  for (int i = 0; i < 8; i++) sk[i] = XXH_readLE64(scramble + 8 * i);
  for (size_t n = 0; n < blocks; n++)
    for (int i = 0; i < 8; i++) {
      uint64_t a = acc[i] + c[i];
      a ^= a >> 47;
      a ^= sk[i];
      acc[i] = a * XXH_PRIME32_1;
    }
  size_t stripes = ((len - 1) - blockLen * blocks) / XXH_STRIPE_LEN;
  for (size_t s = 0; s < stripes; s++)
    for (int i = 0; i < 8; i++) {
      uint64_t key = XXH_readLE64(secret + s * XXH_SECRET_CONSUME_RATE + 8 * i);
      acc[i] += (uint64_t)(uint32_t)key * (key >> 32);
    }
  for (int i = 0; i < 8; i++) {
    uint64_t key = XXH_readLE64(secret + secretSize - XXH_STRIPE_LEN - XXH_SECRET_LASTACC_START + 8 * i);
    acc[i] += (uint64_t)(uint32_t)key * (key >> 32);
  }
  return XXH3_finalizeLong_64b(acc, secret, (uint64_t)len);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void) {
  size_t lens[] = {241, 1024, 1025, 4096, 5000, 1 << 20, (1 << 20) + 17, 3 * 1000 * 1000 + 1};
  unsigned char *zeros = calloc(1, 4 << 20);
  int ok = 1;
  for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
    uint64_t a = XXH3_64bits(zeros, lens[k]), b = xxh3_zeros(lens[k]);
    printf("%zu: library %016llx shortcut %016llx %s\n", lens[k], (unsigned long long)a, (unsigned long long)b, a == b ? "equal" : "DIFFERENT");
    ok &= a == b;
  }
  size_t big = (size_t)16 << 30;
  for (int round = 0; round < 3; round++) {
    double t0 = now();
    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    for (size_t at = 0; at < big; at += 1 << 20) XXH3_64bits_update(st, zeros, 1 << 20);
    uint64_t a = XXH3_64bits_digest(st);
    double t1 = now();
    uint64_t b = xxh3_zeros(big);
    double t2 = now();
    printf("16 GiB of zeros: XXH3 library over a 1 MiB buffer %.3f s, shortcut %.3f s, %s\n", t1 - t0, t2 - t1, a == b ? "equal" : "DIFFERENT");
    ok &= a == b;
    XXH3_freeState(st);
  }
  for (int round = 0; round < 3; round++) {
    double t0 = now();
    XXH64_state_t *st = XXH64_createState();
    XXH64_reset(st, 0);
    for (size_t at = 0; at < big; at += 1 << 20) XXH64_update(st, zeros, 1 << 20);
    uint64_t a = XXH64_digest(st);
    double t1 = now();
    uint64_t v[4] = {XXH_PRIME64_1 + XXH_PRIME64_2, XXH_PRIME64_2, 0, 0 - XXH_PRIME64_1};
    for (size_t n = 0; n < big / 32; n++)
      for (int i = 0; i < 4; i++) v[i] = XXH_rotl64(v[i], 31) * XXH_PRIME64_1;
    uint64_t h = XXH_rotl64(v[0], 1) + XXH_rotl64(v[1], 7) + XXH_rotl64(v[2], 12) + XXH_rotl64(v[3], 18);
    for (int i = 0; i < 4; i++) h = XXH64_mergeRound(h, v[i]);
    h += (uint64_t)big;
    h = XXH64_avalanche(h);
    double t2 = now();
    printf("16 GiB of zeros: XXH64 library over a 1 MiB buffer %.3f s, zero stripes alone %.3f s, %s\n", t1 - t0, t2 - t1, a == h ? "equal" : "DIFFERENT");
    ok &= a == h;
    XXH64_freeState(st);
  }
  return ok ? 0 : 1;
}
