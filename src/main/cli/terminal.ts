// Text for a terminal. What the CLI prints includes data from projects and models that may come
// from anywhere (class, file and project names, a model's labels), and a terminal obeys control
// sequences in what it prints: an escape sequence in a class name could rewrite the screen, set
// the window title, or hide the lines around it. So everything printed as text goes through
// here: line breaks and tabs stay, other control characters and the bidirectional overrides that
// can disguise text are written out visibly as \u{XX}. (JSON output is already escaped.)

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function terminalText(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase()}}`);
}
