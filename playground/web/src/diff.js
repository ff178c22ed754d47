// A line diff (longest common subsequence) for the exported and the new resource.

const MAX_CELLS = 4_000_000;

/// [sign, line] pairs: " " kept, "-" only in `a`, "+" only in `b`; null when the two
/// are too long to compare here (the table would pass MAX_CELLS).
export function lineDiff(a, b) {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  const x = a.slice(start, endA);
  const y = b.slice(start, endB);
  if ((x.length + 1) * (y.length + 1) > MAX_CELLS) return null;
  const width = y.length + 1;
  const table = new Uint32Array((x.length + 1) * width);
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) {
      table[i * width + j] = x[i] === y[j]
        ? table[(i + 1) * width + j + 1] + 1
        : Math.max(table[(i + 1) * width + j], table[i * width + j + 1]);
    }
  }
  const out = a.slice(0, start).map((line) => [" ", line]);
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      out.push([" ", x[i]]); i++; j++;
    } else if (j < y.length && (i === x.length || table[i * width + j + 1] >= table[(i + 1) * width + j])) {
      out.push(["+", y[j]]); j++;
    } else {
      out.push(["-", x[i]]); i++;
    }
  }
  return out.concat(a.slice(endA).map((line) => [" ", line]));
}
