-- Release engineering's own tools: scriptworker and scriptworker-scripts on GitHub.
-- The regex matches both mozilla-releng/scriptworker and mozilla-releng/scriptworker-scripts.
-- Values mirror the Python scriptworker's DEFAULT_CONFIG by-cot-product["scriptworker"]
-- (tests/unit/policies/products_spec.lua keeps them equal).
return {
  name = "scriptworker",
  description = "Release engineering's own tools: scriptworker and scriptworker-scripts on GitHub",
  -- How decision tasks are rebuilt: "hg" (hg.mozilla.org) or "github".
  cot_product_type = "github",
  -- Env prefix of the repository variables (<P>_HEAD_REPOSITORY, <P>_HEAD_REV, ...).
  source_env_prefix = "SCRIPTWORKER",
  -- Owner whose GitHub repositories are not pull requests ("" for hg products).
  official_github_repos_owner = "mozilla-releng",
  -- Values of extra.tasks_for a decision, cron or action task may carry.
  valid_tasks_for = { "action", "cron", "github-pull-request", "github-push", "github-release" },
  -- provisionerId/workerType of decision and action tasks.
  valid_decision_worker_pools = {
    "scriptworker-1/decision",
    "scriptworker-3/decision",
    "scriptworker-1/decision-gcp",
    "scriptworker-3/decision-gcp",
  },
  -- provisionerId/workerType of docker-image tasks.
  valid_docker_image_worker_pools = {
    "scriptworker-1/images",
    "scriptworker-3/images",
    "scriptworker-1/images-gcp",
    "scriptworker-3/images-gcp",
  },
  -- Task types that may run a prebuilt or indexed docker image ("any": all).
  prebuilt_docker_image_task_types = { "decision", "action", "docker-image" },
  -- Trusted repositories: the named group "path" is the repository path.
  trusted_vcs_rules = {
    {
      netlocs = { "github.com" },
      path_regexes = {
        [[^(?P<path>/mozilla-releng/scriptworker(?:|-scripts))(/|.git|$)]],
      },
      schemes = { "https", "ssh" },
    },
  },
  -- Restricted scope -> the tree level (cot_restricted_trees) allowed to use it.
  cot_restricted_scopes = {
    ["project:scriptworker:dockerhub:production"] = "scriptworker-scripts-repo",
    ["project:scriptworker:pypi:production"] = "all-production-repos",
  },
  -- Tree level -> repository paths.
  cot_restricted_trees = {
    ["all-production-repos"] = {
      "/mozilla-releng/scriptworker",
      "/mozilla-releng/scriptworker-scripts",
    },
    ["scriptworker-scripts-repo"] = { "/mozilla-releng/scriptworker-scripts" },
  },
}
