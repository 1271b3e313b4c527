-- A task that builds a docker image other tasks run in: it must run in one
-- of the product's image-building pools (VERIFY.md section 5).
return {
  name = "docker-image",
  description = "Builds a docker image used by later tasks of the graph",
  worker_pools = "valid_docker_image_worker_pools",
}
