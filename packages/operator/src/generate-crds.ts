#!/usr/bin/env node
/** `node packages/operator/dist/generate-crds.js [dir]`: writes the CRD YAML (default deploy/crds). */
import { resolve } from "node:path";
import { writeCrds } from "./crd/generate.js";

const dir = resolve(process.argv[2] ?? "deploy/crds");
for (const file of writeCrds(dir)) process.stdout.write(`wrote ${file}\n`);
