-- Application Services (mozilla/application-services on GitHub).
-- The Rust components shared by Firefox's apps (sync, logins, places, ...).
-- Values mirror the Python scriptworker's DEFAULT_CONFIG by-cot-product["app-services"]
-- (tests/unit/policies/products_spec.lua keeps them equal).
return {
  name = "app-services",
  description = "Application Services (mozilla/application-services on GitHub)",
  -- How decision tasks are rebuilt: "hg" (hg.mozilla.org) or "github".
  cot_product_type = "github",
  -- Env prefix of the repository variables (<P>_HEAD_REPOSITORY, <P>_HEAD_REV, ...).
  source_env_prefix = "APPSERVICES",
  -- Owner whose GitHub repositories are not pull requests ("" for hg products).
  official_github_repos_owner = "mozilla",
  -- Values of extra.tasks_for a decision, cron or action task may carry.
  valid_tasks_for = { "action", "cron", "github-pull-request", "github-push", "github-release" },
  -- provisionerId/workerType of decision and action tasks.
  valid_decision_worker_pools = {
    "app-services-1/decision",
    "app-services-3/decision",
    "app-services-1/decision-gcp",
    "app-services-3/decision-gcp",
  },
  -- provisionerId/workerType of docker-image tasks.
  valid_docker_image_worker_pools = {
    "app-services-1/images",
    "app-services-3/images",
    "app-services-1/images-gcp",
    "app-services-3/images-gcp",
  },
  -- Task types that may run a prebuilt or indexed docker image ("any": all).
  prebuilt_docker_image_task_types = "any",
  -- Trusted repositories: the named group "path" is the repository path.
  trusted_vcs_rules = {
    {
      netlocs = { "github.com" },
      path_regexes = {
        [[^(?P<path>/mozilla/application-services)(/|.git|$)]],
      },
      schemes = { "https", "ssh" },
    },
  },
  -- Restricted scope -> the tree level (cot_restricted_trees) allowed to use it.
  cot_restricted_scopes = {
    ["project:mozilla:app-services:releng:beetmover:bucket:maven-production"] = "app-services-repo",
    ["project:mozilla:app-services:releng:beetmover:bucket:release"] = "app-services-repo",
    ["project:mozilla:app-services:releng:signing:cert:release-signing"] = "app-services-repo",
  },
  -- Tree level -> repository paths.
  cot_restricted_trees = {
    ["app-services-repo"] = { "/mozilla/application-services" },
  },
}
