// State that belongs to one project (an import report, an export's error, a plan, predictions)
// must not show in the next one. Each store registers its reset here once; the studio calls
// them whenever the window leaves a project (closed, another opened, one created), so no store
// can be forgotten by whoever adds the next project switch.

const resets = new Set<() => void>();

/** Runs `reset` every time the window leaves a project. */
export function onLeaveProject(reset: () => void): void {
  resets.add(reset);
}

export function leaveProject(): void {
  for (const reset of resets) reset();
}
