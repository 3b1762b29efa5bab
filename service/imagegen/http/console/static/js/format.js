// How numbers and times read on the page.

/** A USD amount given as a decimal string ("0.04") or "unknown". */
export function usd(text) {
  if (text === null || text === undefined || text === "unknown") return "unknown";
  const value = Number(text);
  if (!Number.isFinite(value)) return String(text);
  if (Math.abs(value) >= 1) return `$${value.toFixed(2)}`;
  // Image prices are fractions of a cent apart: keep up to four decimals, at least two.
  return `$${value.toFixed(4).replace(/(\.\d\d\d*?)0+$/, "$1")}`;
}

export function ms(value) {
  if (value === null || value === undefined) return "";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

export function when(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleString();
}

export function bucketLabel(unixSeconds, bucketSeconds) {
  const date = new Date(unixSeconds * 1000);
  if (bucketSeconds < 86400) {
    return `${date.getHours().toString().padStart(2, "0")}:00`;
  }
  // Daily buckets are UTC days (the server aligns them on multiples of 86400 s).
  return `${date.getUTCMonth() + 1}/${date.getUTCDate()}`;
}

export function percent(fraction) {
  return fraction === null || fraction === undefined ? "–" : `${(fraction * 100).toFixed(0)}%`;
}
