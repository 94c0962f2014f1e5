//! `sales-host build`: runs each component's `[component.X.build]` command,
//! as `spin build` does.

use std::process::Command;

use anyhow::{bail, Context as _};

use crate::manifest::LoadedManifest;

pub fn build_all(manifest: &LoadedManifest) -> anyhow::Result<()> {
    for (id, component) in &manifest.manifest.component {
        let Some(build) = &component.build else {
            tracing::info!(component = %id, "no build command");
            continue;
        };
        let workdir = match &build.workdir {
            Some(dir) => manifest.dir.join(dir),
            None => manifest.dir.clone(),
        };
        tracing::info!(component = %id, command = %build.command, "building");
        let status = Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&workdir)
            .status()
            .with_context(|| format!("running the build command of component {id:?}"))?;
        if !status.success() {
            bail!("build command of component {id:?} failed ({status})");
        }
    }
    Ok(())
}
