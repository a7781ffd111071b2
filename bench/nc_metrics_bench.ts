/**
 * `deno task bench:nc`: one `ncMetrics` call on Gaussian class clusters (d = 512, K = 10), at
 * N = 2,000 and 10,000, to follow its N·d² cost.
 *
 * @module
 */
import { ncMetrics } from "../mod.ts";
import { randomNormal, Rng } from "../core/random.ts";

function problem(N: number, d: number, K: number) {
  const rng = new Rng(1);
  const means = randomNormal(rng, K, d);
  const features = new Float32Array(N * d), labels = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    labels[i] = i % K;
    for (let j = 0; j < d; j++) {
      features[i * d + j] = means.data[labels[i] * d + j] + 0.5 * rng.normal();
    }
  }
  return { features, labels, numClasses: K, W: randomNormal(new Rng(2), K, d) };
}

for (const N of [2000, 10000]) {
  const input = problem(N, 512, 10);
  Deno.bench(`ncMetrics N = ${N}, d = 512, K = 10`, { n: 3, warmup: 1 }, () => {
    ncMetrics(input);
  });
}
