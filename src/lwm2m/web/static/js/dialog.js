// Modal forms on the native <dialog> element.

import { h, icon } from "./dom.js";

function control(field) {
  const common = { name: field.name, id: `f-${field.name}`, required: field.required, placeholder: field.placeholder ?? "" };
  if (field.type === "select") {
    return h(
      "select",
      common,
      field.options.map(([value, label]) => h("option", { value, selected: String(field.value ?? "") === String(value) }, label)),
    );
  }
  if (field.type === "textarea") {
    return h("textarea", { ...common, rows: field.rows ?? 4, value: field.value ?? "" });
  }
  if (field.type === "checkbox") {
    return h("input", { ...common, type: "checkbox", checked: Boolean(field.value) });
  }
  return h("input", {
    ...common,
    type: field.type ?? "text",
    value: field.value ?? "",
    step: field.step,
    min: field.min,
    max: field.max,
    autocomplete: field.autocomplete ?? "off",
    spellcheck: false,
  });
}

/**
 * Ask for values: fields [{name, label, type, value, options, hint, required}], resolves to
 * {name: string|boolean} or null when cancelled. `check(values)` may return an error message.
 */
export function form({ title, intro, fields, submit = "Apply", danger = false, check }) {
  return new Promise((resolve) => {
    const error = h("p", { class: "form-error", hidden: true });
    const body = h(
      "form",
      { method: "dialog", class: "form", novalidate: false },
      h("header", { class: "dialog-head" },
        h("h2", {}, title),
        h("button", { type: "button", class: "icon-btn", title: "Close", onclick: () => dialog.close() }, icon("close"))),
      intro ? h("p", { class: "dialog-intro" }, intro) : null,
      h("div", { class: "fields" },
        fields.map((field) =>
          h("label", { class: ["field", field.type === "checkbox" && "field-check"], for: `f-${field.name}` },
            h("span", { class: "field-label" }, field.label),
            control(field),
            field.hint ? h("span", { class: "field-hint" }, field.hint) : null))),
      error,
      h("footer", { class: "dialog-foot" },
        h("button", { type: "button", class: "btn btn-ghost", onclick: () => dialog.close() }, "Cancel"),
        h("button", { type: "submit", class: ["btn", danger ? "btn-danger" : "btn-primary"], value: "ok" }, submit)),
    );
    const dialog = h("dialog", { class: "dialog" }, body);
    let result = null;
    body.addEventListener("submit", (event) => {
      const values = {};
      for (const field of fields) {
        const el = body.elements[field.name];
        values[field.name] = field.type === "checkbox" ? el.checked : el.value;
      }
      const problem = check?.(values);
      if (problem) {
        event.preventDefault();
        error.textContent = problem;
        error.hidden = false;
        return;
      }
      result = values;
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    body.querySelector("input, select, textarea")?.focus();
  });
}

/** Yes or no. */
export async function confirm(title, message, submit = "Delete") {
  return (await form({ title, intro: message, fields: [], submit, danger: true })) !== null;
}
