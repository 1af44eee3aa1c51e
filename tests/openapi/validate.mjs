// Validates an OpenAPI document with @apidevtools/swagger-parser (the OpenAPI 3.1 JSON Schema
// and $ref resolution), then checks what the specification requires beyond its JSON Schema
// and swagger-parser checks only for Swagger 2.0: unique operationIds, every template
// parameter declared once as a required path parameter and no other path parameter, no
// duplicate parameters, no two templates differing only in parameter names, security
// requirements naming declared schemes and OAuth2 scopes. Prints every problem and exits 1
// when there is one.
//
//   node tests/openapi/validate.mjs FILE
//
// The validator is installed by `scripts/ui.sh test` into build/test-node (STRATA_TEST_NODE
// overrides that folder), not into the source tree, hence the explicit resolution below.
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const nodeDir = process.env.STRATA_TEST_NODE || resolve(here, "../../build/test-node");
const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs FILE");
  process.exit(2);
}

let SwaggerParser;
try {
  SwaggerParser = createRequire(join(nodeDir, "package.json"))("@apidevtools/swagger-parser");
} catch (e) {
  console.error(`validate.mjs: @apidevtools/swagger-parser not found under ${nodeDir} (run scripts/ui.sh test): ${e.message}`);
  process.exit(2);
}

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

function semanticErrors(api) {
  const errors = [];
  const ids = new Map();
  const shapes = new Map();
  const schemes = api.components?.securitySchemes || {};
  const checkSecurity = (where, reqs) => {
    for (const req of reqs || []) {
      for (const [name, scopes] of Object.entries(req)) {
        const scheme = schemes[name];
        if (!scheme) {
          errors.push(`${where}: security scheme "${name}" is not declared`);
          continue;
        }
        if (scheme.type !== "oauth2") continue;
        for (const flow of Object.values(scheme.flows || {}))
          for (const scope of scopes)
            if (!(scope in (flow.scopes || {})))
              errors.push(`${where}: OAuth2 scope "${scope}" is not declared by every flow of "${name}"`);
      }
    }
  };
  checkSecurity("document", api.security);
  for (const [path, item] of Object.entries(api.paths || {})) {
    const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    const shape = path.replace(/\{[^}]+\}/g, "{}");
    if (shapes.has(shape)) errors.push(`${path}: same template as ${shapes.get(shape)} (OpenAPI 3.1 §4.8.8.2)`);
    shapes.set(shape, path);
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const where = `${method.toUpperCase()} ${path}`;
      if (!op.operationId) errors.push(`${where}: no operationId`);
      else if (ids.has(op.operationId)) errors.push(`${where}: operationId ${op.operationId} also used by ${ids.get(op.operationId)}`);
      else ids.set(op.operationId, where);
      const params = new Map();
      for (const p of [...(item.parameters || []), ...(op.parameters || [])]) {
        const key = `${p.in}:${p.name}`;
        if (params.has(key) && (op.parameters || []).filter((q) => `${q.in}:${q.name}` === key).length > 1)
          errors.push(`${where}: parameter ${key} declared twice`);
        params.set(key, p);
      }
      for (const n of names) {
        const p = params.get(`path:${n}`);
        if (!p) errors.push(`${where}: template parameter {${n}} is not declared`);
        else if (p.required !== true) errors.push(`${where}: path parameter ${n} must be required`);
      }
      for (const p of params.values())
        if (p.in === "path" && !names.includes(p.name)) errors.push(`${where}: path parameter ${p.name} is not in the template`);
      checkSecurity(where, op.security);
    }
  }
  return errors;
}

let api;
try {
  api = await SwaggerParser.validate(resolve(file));
} catch (e) {
  console.error(`invalid: ${e.message}`);
  if (Array.isArray(e.details)) console.error(JSON.stringify(e.details, null, 2).slice(0, 4000));
  process.exit(1);
}
const errors = semanticErrors(api);
if (errors.length) {
  console.error(`invalid: ${errors.length} problem(s)`);
  for (const e of errors) console.error(`  ${e}`);
  process.exit(1);
}
const ops = Object.values(api.paths || {}).reduce((n, item) => n + METHODS.filter((m) => item[m]).length, 0);
console.log(`valid: OpenAPI ${api.openapi}, ${Object.keys(api.paths || {}).length} paths, ${ops} operations`);
