// Small DOM helpers shared by the console and the chat. Every string goes in as text (textContent or a text
// node), never as HTML: user-supplied data cannot become markup.

/** Builds an element: el('td', {class: 'x', onclick: f}, 'text', childNode, [more]). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'value') node.value = value;
    else if (key === 'checked') node.checked = Boolean(value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** An SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  append(node, children);
  return node;
}

/** The values of a form's named fields, trimmed strings (checkboxes as booleans). */
export function formValues(form) {
  const out = {};
  for (const element of form.elements) {
    if (!element.name) continue;
    out[element.name] = element.type === 'checkbox' ? element.checked : element.value.trim();
  }
  return out;
}

/** `yyyy-MM-dd HH:mm:ss` in UTC, as the REST API's history wants it. */
export function wireTime(date) {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}
