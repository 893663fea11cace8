export type { DockerBackendOptions, DockerInput, DockerSpec } from './DockerBroker.js';
export {
  createDockerBroker,
  DOCKER_ACTION,
  DOCKER_PARAMS_SHAPE,
  dockerBackend,
  dockerEnvFile,
  dockerRunArgs,
  validateDockerSpec,
} from './DockerBroker.js';
