// Render the \( \) and \[ \] that pymdownx.arithmatex leaves in <span/div class="arithmatex">
// with the KaTeX shipped in this site (assets/katex). A formula that fails to parse is left
// as text and logged with console.error (auto-render's default), which the browser test catches.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
  });
});
