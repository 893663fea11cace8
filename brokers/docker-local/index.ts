export type { DockerBackendOptions, DockerSpec } from './DockerBroker.js';
export {
  createDockerBroker,
  DOCKER_ACTION,
  dockerBackend,
  dockerRunArgs,
  validateDockerSpec,
} from './DockerBroker.js';
