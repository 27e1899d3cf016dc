/**
 * softprompt's one seeded random source (shuffling, splits, RANDOM/SAMPLE_VOCAB prompt init, sampling):
 * xoshiro128** seeded through splitmix32. Its whole state is four 32-bit words, so a checkpoint can store it and a
 * resumed run draws the same numbers. torch's generator cannot be reproduced outside torch: runs are reproducible
 * against each other, and parity tests replay recorded values instead.
 */
export class Generator {
  private constructor(private readonly s: Uint32Array) {}

  static seeded(seed: number): Generator {
    // Seeds beyond 32 bits differ in their high word: fold it in so they give other streams.
    let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) >>> 0, 0x9e3779b9);
    const s = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    return new Generator(s);
  }

  static fromState(state: readonly number[]): Generator {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff) || state.every((w) => w === 0)) {
      throw new RangeError(`not a generator state: ${JSON.stringify(state)}`);
    }
    return new Generator(Uint32Array.from(state));
  }

  state(): number[] {
    return [...this.s];
  }

  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.nextUint32() >>> 5) * 2 ** 26 + (this.nextUint32() >>> 6)) / 2 ** 53;
  }

  /** Uniform in [0, n), without modulo bias. */
  below(n: number): number {
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** A uniformly random ordering of 0..n-1 (Fisher-Yates). */
  permutation(n: number): number[] {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.below(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A seed for runs the user did not seed. */
export function freshSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}

/**
 * A 64-bit fingerprint (16 hex digits) of strings and numbers fed in order: two FNV-1a lanes over 32-bit words. For
 * telling runs apart (a checkpoint's model, adapter config, data), not for security.
 */
export class Fingerprint {
  private a = 0x811c9dc5;
  private b = 0x01000193 ^ 0x9e3779b9;

  number(x: number): this {
    const lo = x >>> 0;
    const hi = Math.floor(x / 2 ** 32) >>> 0;
    for (const w of [lo, hi]) {
      this.a = Math.imul(this.a ^ w, 0x01000193) >>> 0;
      this.b = Math.imul(this.b ^ (w + 0x7f4a7c15), 0x85ebca6b) >>> 0;
    }
    return this;
  }

  string(s: string): this {
    this.number(s.length);
    for (let i = 0; i < s.length; i++) this.number(s.charCodeAt(i));
    return this;
  }

  digest(): string {
    return (this.a.toString(16).padStart(8, '0') + this.b.toString(16).padStart(8, '0'));
  }
}
