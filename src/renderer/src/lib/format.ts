/** A duration for people: "42 s", "3 min 5 s", "1 h 20 min". */
export function duration(seconds: number): string {
  const t = Math.max(0, Math.round(seconds));
  if (t >= 3600) return `${Math.floor(t / 3600)} h ${Math.floor((t % 3600) / 60)} min`;
  if (t >= 60) return `${Math.floor(t / 60)} min ${t % 60} s`;
  return `${t} s`;
}

export const num = (n: number): string => n.toLocaleString();
