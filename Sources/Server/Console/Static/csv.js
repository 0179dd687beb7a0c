// CSV for the console's bulk registration: RFC 4180 fields (quotes, doubled quotes, commas and newlines inside
// quotes), one user per row: username,password[,nickname]. A first row naming the columns is skipped.

/** Parses CSV text into rows of fields; each row keeps its 1-based line number. */
export function parseCSV(text) {
  const rows = [];
  let row = [], field = '', quoted = false, line = 1, rowLine = 1, i = 0, touched = false;
  const endField = () => { row.push(field); field = ''; touched = false; };
  const endRow = () => {
    endField();
    if (!(row.length === 1 && row[0] === '')) rows.push({ line: rowLine, fields: row });
    row = [];
    rowLine = line;
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i += 1; continue; }
      if (c === '\n') line += 1;
      field += c; i += 1; continue;
    }
    if (c === '"' && !touched && field === '') { quoted = true; touched = true; i += 1; continue; }
    if (c === ',') { endField(); i += 1; continue; }
    if (c === '\r' && text[i + 1] === '\n') { i += 1; continue; }
    if (c === '\n') { line += 1; endRow(); rowLine = line; i += 1; continue; }
    field += c; touched = true; i += 1;
  }
  if (field !== '' || row.length) endRow();
  return rows;
}

/** Turns CSV rows into users to register and per-row problems found before sending. */
export function usersFromCSV(text) {
  const rows = parseCSV(text);
  if (rows.length && rows[0].fields[0].trim().toLowerCase() === 'username') rows.shift();
  const users = [], problems = [];
  for (const { line, fields } of rows) {
    const [username = '', password = '', nickname = ''] = fields.map((f) => f.trim());
    if (fields.length > 3) { problems.push({ line, username, message: `expected at most 3 columns, got ${fields.length}` }); continue; }
    if (!username) { problems.push({ line, username, message: 'username: required' }); continue; }
    if (!password) { problems.push({ line, username, message: 'password: required' }); continue; }
    const user = { username, password };
    if (nickname) user.nickname = nickname;
    users.push({ line, user });
  }
  return { users, problems };
}
