// Swagger UI over this server's own description; "Try it out" calls this server (with the
// bearer token given under "Authorize" when the API needs one).
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  validatorUrl: null,
});
