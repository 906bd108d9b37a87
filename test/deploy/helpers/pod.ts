/**
 * kernel-pod.yaml as a host and the kubelet use it: rendered per kernel, and
 * the container environment it yields (the token resolved from the Secret).
 * Shared by the process-level and the container-engine tests of the recipe.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './deploy.js';

export const POD_TEMPLATE = join(ROOT, 'deploy/container/kernel-pod.yaml');

/** One env entry of the pod's container. */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

/** The parts of the rendered Secret and Pod the tests read. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  stringData?: Record<string, string>;
  spec?: {
    restartPolicy: string;
    containers: Array<{
      name: string;
      image: string;
      env: EnvVar[];
      volumeMounts: Array<{ mountPath: string }>;
      securityContext: { readOnlyRootFilesystem: boolean };
    }>;
  };
}

/** Renders the template as a host would: every ${NAME} replaced, each value JSON-quoted inside the YAML string. */
export function renderPod(values: Record<string, string>): K8sObject[] {
  const text = readFileSync(POD_TEMPLATE, 'utf8').replace(/\$\{([A-Z_]+)\}/g, (_m, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for ${name}`);
    return JSON.stringify(v).slice(1, -1);
  });
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw d.errors[0];
    return d.toJS() as K8sObject;
  });
}

/** What the kubelet would put in the container's environment (secretKeyRef resolved from the Secret document). */
export function containerEnv(objects: K8sObject[]): Record<string, string> {
  const pod = objects.find((o) => o.kind === 'Pod')!;
  const env: Record<string, string> = {};
  for (const e of pod.spec!.containers[0]!.env) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref !== undefined) {
      const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name);
      const v = secret?.stringData?.[ref.key];
      if (v === undefined) throw new Error(`secret ${ref.name}/${ref.key} not in the manifest`);
      env[e.name] = v;
    } else env[e.name] = e.value ?? '';
  }
  return env;
}
