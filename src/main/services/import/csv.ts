// CSV of `path,label` (optionally `split`): paths relative to the CSV's folder. A header row is
// recognised by its column names; without one the columns are path, label[, split].

export interface CsvRow {
  line: number;
  path: string;
  label: string;
  split: string;
}

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF) into rows of fields. */
export function parseCsv(text: string): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRow = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0].trim() === '')) rows.push({ line: rowLine, fields });
    fields = [];
    field = '';
  };
  for (; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else field += c;
  }
  if (field !== '' || fields.length > 0) endRow();
  return rows;
}

const PATH_HEADERS = ['path', 'file', 'filename', 'file_name', 'image', 'image_path', 'filepath'];
const LABEL_HEADERS = ['label', 'class', 'category', 'class_name', 'classname'];

/** The rows of a `path,label[,split]` CSV, header or not. */
export function csvRows(text: string): CsvRow[] {
  const rows = parseCsv(text);
  if (rows.length === 0) return [];
  let pathCol = 0;
  let labelCol = 1;
  let splitCol = 2;
  const head = rows[0].fields.map((f) => f.trim().toLowerCase());
  if (PATH_HEADERS.includes(head[0]) || head.some((h) => LABEL_HEADERS.includes(h))) {
    rows.shift();
    pathCol = Math.max(0, head.findIndex((h) => PATH_HEADERS.includes(h)));
    labelCol = head.findIndex((h) => LABEL_HEADERS.includes(h));
    splitCol = head.indexOf('split');
  }
  return rows.map(({ line, fields }) => ({
    line,
    path: (fields[pathCol] ?? '').trim(),
    label: labelCol >= 0 ? (fields[labelCol] ?? '').trim() : '',
    split: splitCol >= 0 ? (fields[splitCol] ?? '').trim() : '',
  }));
}
