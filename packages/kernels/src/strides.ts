/** Element strides of x (rank <= 4, broadcastable) over [B, Hq, Tq, Tk]; 0 along broadcast dims. */
export function stridesOf(shape: number[]): [number, number, number, number] {
  const full = [...new Array(4 - shape.length).fill(1), ...shape] as number[]; // [b|1, h|1, q|1, k|1]
  const strides: [number, number, number, number] = [0, 0, 0, 0];
  let step = 1;
  for (let d = 3; d >= 0; d--) {
    strides[d] = full[d] === 1 ? 0 : step;
    step *= full[d]!;
  }
  return strides;
}
