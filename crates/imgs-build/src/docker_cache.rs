//! The Docker half of the cache, for the plan: docker images live in an engine and in the registries
//! they are pushed to, not in `cache/`, so a record alone cannot say an image is still there.
//!
//! - A record's committed image (`sha256:…`) must still be in the local engine; one that is not is
//!   stale (`docker image … is not in the Docker engine`).
//! - Without a usable record, the registries the template pushes to (the `repository` of a
//!   `docker-tag` or `docker-import` followed by `docker-push` in a chain) are asked for the tag
//!   `imgs-<fingerprint>` that `docker-push` adds: one manifest and one config request per
//!   repository. An image found there is fresh, and its children are given that reference, which
//!   `docker run` pulls when the engine lacks it: a machine with an empty engine pulls instead of
//!   rebuilding.
//!
//! Every question is one HTTP request (the Engine API over its socket, the registry API), all asked
//! at once, so a no-op run stays fast.

use std::path::Path;

use imgs_cache::{BuildArtifact, CacheRecord};
use imgs_diagnostic::Diagnostic;
use imgs_docker::lookup::{self, EngineAddress, RegistryRef};
use imgs_fingerprint::InputSet;
use imgs_template::interpolate::{RenderScope, Volatile};
use imgs_template::{BuildFilter, ResolvedVariables, Template};

use crate::settings::Settings;

/// One image's Docker questions.
#[derive(Clone, Debug, Default)]
pub struct DockerQuery {
    pub fingerprint: String,
    /// The selected docker build's name, when it is the image's only build (a registry find then
    /// stands for the whole image).
    only_build: Option<String>,
    /// Repositories its chains push to, without tags.
    repositories: Vec<String>,
    /// Committed images its record names, to look for in the engine.
    recorded_images: Vec<String>,
    /// Whether the image has a record for this fingerprint.
    has_record: bool,
}

/// What Docker answered for one image.
#[derive(Clone, Debug, Default)]
pub struct DockerAnswer {
    /// Recorded images the engine does not have.
    pub gone_images: Vec<String>,
    /// The image a registry holds under the fingerprint.
    pub found: Option<RegistryFind>,
}

/// An image found in a registry by its `imgs-<fingerprint>` tag.
#[derive(Clone, Debug)]
pub struct RegistryFind {
    /// The image's one build.
    build: String,
    /// `REPOSITORY:imgs-<fingerprint>`: what its children are given, and `docker run` pulls.
    reference: String,
    /// Its `imgs.run` label.
    run_id: String,
}

impl RegistryFind {
    /// The record it stands for: `image` with `inputs`, built by the run that pushed it.
    pub fn record(&self, image: &str, inputs: &InputSet) -> CacheRecord {
        CacheRecord::new(
            image,
            inputs.clone(),
            vec![BuildArtifact {
                name: self.build.clone(),
                builder_type: "docker".into(),
                artifact_id: self.reference.clone(),
                files: Vec::new(),
            }],
            &self.run_id,
        )
    }
}

impl DockerQuery {
    /// The query for an image whose template (variables resolved as for planning) has docker builds;
    /// `None` when it has none.
    pub fn of(
        fingerprint: &str,
        template: &Template,
        variables: &ResolvedVariables,
        filter: &BuildFilter,
        working_dir: &Path,
    ) -> Option<DockerQuery> {
        let builds = template.builds(filter);
        let docker: Vec<_> = builds.iter().filter(|b| b.kind == "docker").collect();
        if docker.is_empty() {
            return None;
        }
        let scope = RenderScope::new(
            template,
            working_dir,
            &variables.values,
            Volatile::Placeholder,
        );
        let only_build = match builds.as_slice() {
            [one] if one.kind == "docker" => Some(scope.build_name(one)),
            _ => None,
        };
        let mut repositories = Vec::new();
        for block in &docker {
            let name = scope.build_name(block);
            let ctx = scope.build_context(&name, &block.kind);
            for (c, chain) in template.post_processors.iter().enumerate() {
                let mut pending: Option<String> = None;
                for (i, post) in chain.iter().enumerate() {
                    if !post.applies_to(&block.name) {
                        continue;
                    }
                    match post.kind.as_str() {
                        "docker-tag" | "docker-import" => {
                            let key = template.post_processor_key(c, i);
                            pending = Settings::render(template, key, &post.config, &ctx)
                                .ok()
                                .and_then(|s| s.text("repository"))
                                .filter(|r| !r.is_empty());
                        }
                        "docker-push" => {
                            if let Some(repository) = pending.take() {
                                let repository = lookup::strip_tag(&repository).to_string();
                                if !repositories.contains(&repository) {
                                    repositories.push(repository);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Some(DockerQuery {
            fingerprint: fingerprint.to_string(),
            only_build,
            repositories,
            recorded_images: Vec::new(),
            has_record: false,
        })
    }

    /// The image's record for this fingerprint: its committed images are looked for in the engine.
    pub fn recorded(&mut self, record: &CacheRecord) {
        self.has_record = true;
        self.recorded_images = record
            .builds
            .iter()
            .filter(|b| b.builder_type == "docker" && b.artifact_id.starts_with("sha256:"))
            .map(|b| b.artifact_id.clone())
            .collect();
    }
}

/// Asks the engine about every recorded image and, when `online`, the registries about every
/// image whose record is missing or stale. Failures are warnings: the images they were for are
/// decided from their records.
pub fn look_up(
    queries: &[Option<DockerQuery>],
    online: bool,
) -> (Vec<DockerAnswer>, Vec<Diagnostic>) {
    let mut answers: Vec<DockerAnswer> = queries.iter().map(|_| DockerAnswer::default()).collect();
    if queries.iter().all(Option::is_none) {
        return (answers, Vec::new());
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return (
                answers,
                vec![Diagnostic::warning(format!(
                    "could not ask Docker about images: {e}"
                ))],
            );
        }
    };
    let mut warnings = Vec::new();
    runtime.block_on(async {
        // The engine first: which recorded images are gone.
        let engine = EngineAddress::from_env();
        let mut checks = Vec::new();
        for (index, query) in queries.iter().enumerate() {
            for id in query.iter().flat_map(|q| &q.recorded_images) {
                checks.push((index, id.clone()));
            }
        }
        if !checks.is_empty() {
            match &engine {
                Some(engine) => {
                    let results = futures_util::future::join_all(
                        checks.iter().map(|(_, id)| lookup::engine_image(engine, id)),
                    )
                    .await;
                    let mut failed = None;
                    for ((index, id), result) in checks.iter().zip(results) {
                        match result {
                            Ok(Some(_)) => {}
                            Ok(None) => answers[*index].gone_images.push(id.clone()),
                            Err(e) => failed = Some(e),
                        }
                    }
                    if let Some(e) = failed {
                        warnings.push(
                            Diagnostic::warning(format!("could not ask the Docker engine about images: {e}"))
                                .hint("docker images are planned from local records; their builds need the daemon"),
                        );
                    }
                }
                None => warnings.push(Diagnostic::warning(
                    "DOCKER_HOST names a daemon imgs cannot ask directly (TLS or ssh); docker images are planned from local records",
                )),
            }
        }
        if !online {
            return;
        }
        // Then the registries, for images without a usable record.
        let mut asks = Vec::new();
        for (index, query) in queries.iter().enumerate() {
            let Some(query) = query else { continue };
            let usable = query.has_record && answers[index].gone_images.is_empty();
            if usable || query.only_build.is_none() {
                continue;
            }
            for repository in &query.repositories {
                asks.push((index, repository.clone()));
            }
        }
        let results = futures_util::future::join_all(asks.iter().map(|(index, repository)| {
            let tag = imgs_docker::fingerprint_tag(
                &queries[*index].as_ref().expect("asked").fingerprint,
            );
            let at = RegistryRef::parse(repository);
            async move { lookup::registry_image(&at, &tag).await }
        }))
        .await;
        for ((index, repository), result) in asks.iter().zip(results) {
            let query = queries[*index].as_ref().expect("asked");
            match result {
                Ok(Some(found)) if found.fingerprint == query.fingerprint => {
                    if answers[*index].found.is_some() {
                        continue;
                    }
                    answers[*index].found = Some(RegistryFind {
                        build: query
                            .only_build
                            .clone()
                            .expect("asked only for single builds"),
                        reference: format!(
                            "{repository}:{}",
                            imgs_docker::fingerprint_tag(&query.fingerprint)
                        ),
                        run_id: found.run_id,
                    });
                }
                Ok(_) => {}
                Err(e) => warnings.push(
                    Diagnostic::warning(format!("could not look up {repository}: {e}"))
                        .hint("the image is planned from local records; `--offline` skips the lookup"),
                ),
            }
        }
    });
    (answers, warnings)
}

/// A build container a dead run of this workspace left in the local engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftContainer {
    pub id: String,
    pub run_id: String,
    pub image: String,
}

/// The containers of this workspace's runs (all of them, or only `only_run`) in the local engine
/// whose run is no longer in progress; `Ok(None)` when no engine answers (nothing to collect there).
pub fn left_containers(
    workspace_root: &Path,
    in_progress: &dyn Fn(&str) -> bool,
    only_run: Option<&str>,
) -> Result<Option<Vec<LeftContainer>>, String> {
    let Some(engine) = EngineAddress::from_env() else {
        return Ok(None);
    };
    if let EngineAddress::Unix(socket) = &engine
        && !socket.exists()
    {
        return Ok(None);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let key = crate::docker::workspace_key(workspace_root);
    let found = runtime
        .block_on(lookup::engine_containers(
            &engine,
            &imgs_docker::container_prefix(&key),
        ))
        .map_err(|e| e.to_string())?;
    Ok(Some(
        found
            .into_iter()
            .filter_map(|c| {
                let (run_id, image) = c
                    .names
                    .iter()
                    .find_map(|name| imgs_docker::parse_container_name(&key, name))?;
                let wanted = only_run.is_none_or(|only| only == run_id);
                (wanted && !in_progress(&run_id)).then_some(LeftContainer {
                    id: c.id,
                    run_id,
                    image,
                })
            })
            .collect(),
    ))
}

/// A directory a dead run of this workspace shared with its build's container, left in the
/// temporary directory because the run was killed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftSharedDir {
    pub path: std::path::PathBuf,
    pub run_id: String,
    pub image: String,
}

/// The directories this workspace's dead runs (all, or only `only_run`) shared with their
/// containers, in `temp_dir`: named `imgs-docker-<container name>-<random>`.
pub fn left_shared_dirs(
    workspace_root: &Path,
    temp_dir: &Path,
    in_progress: &dyn Fn(&str) -> bool,
    only_run: Option<&str>,
) -> Vec<LeftSharedDir> {
    let key = crate::docker::workspace_key(workspace_root);
    let Ok(entries) = std::fs::read_dir(temp_dir) else {
        return Vec::new();
    };
    let mut found: Vec<LeftSharedDir> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let container = name
                .strip_prefix(crate::docker::SHARED_DIR_PREFIX)?
                .rsplit_once('-')?
                .0;
            let (run_id, image) = imgs_docker::parse_container_name(&key, container)?;
            let wanted = only_run.is_none_or(|only| only == run_id);
            (wanted && !in_progress(&run_id) && entry.path().is_dir()).then(|| LeftSharedDir {
                path: entry.path(),
                run_id,
                image,
            })
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// Removes a container [`left_containers`] found.
pub fn remove_container(container: &LeftContainer) -> Result<(), String> {
    imgs_docker::DockerCli::new()
        .remove_container_blocking(&container.id)
        .map_err(|e| e.to_string())
}
