//! Scopes: where a grant applies, and what a decision is about (its target).
//!
//! A [`Scope`] names up to four levels under the tenant: workspace, project, base, table; naming none is the
//! tenant. A grant's scope S **covers** a target T iff every level S names equals T's at that level
//! ([`Scope::covers`]): the tenant covers everything, a workspace its projects, bases and tables, a project the
//! bases inside it, a base its tables, a table only itself. Ids are compared byte for byte (case matters), so
//! targets carry ids: the gateway resolves a table's name to its id before it asks.
//!
//! Which project a base belongs to is the platform's record, so it is part of the **target** the gateway builds
//! (`Scope::base(w, b).in_project(p)`), never of a string a client sends: a base (or table) grant names the base
//! alone and covers it whichever project it is in, and the string form refuses `project` together with `base`.
//!
//! ## String form
//! ```text
//! scope     = "tenant" / workspace [ "/" project ] / workspace [ "/" base [ "/" table ] ]
//! workspace = "workspace:" id
//! project   = "project:" id
//! base      = "base:" id
//! table     = "table:" id
//! id        = 1*64( ALPHA / DIGIT / "_" / "-" )
//! ```
//! At most [`MAX_SCOPE_LEN`] bytes (checked before anything else), each level at most once and in that order,
//! a table only under its base, a base or project only under its workspace: `tenant`, `workspace:wsX`,
//! `workspace:wsX/project:prY`, `workspace:wsX/base:appZ`, `workspace:wsX/base:appZ/table:tblQ`. Serde uses the
//! same string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::id::{echo, is_valid_id};

/// The longest scope string, in bytes.
pub const MAX_SCOPE_LEN: usize = 512;

/// A level of the resource tree, outermost first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Tenant,
    Workspace,
    Project,
    Base,
    Table,
}

impl Level {
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Tenant => "tenant",
            Level::Workspace => "workspace",
            Level::Project => "project",
            Level::Base => "base",
            Level::Table => "table",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A place in a tenant: all `None` is the tenant itself. Build it with the constructors (a grant's scope) and
/// [`Scope::in_project`] (a target base's project), or parse the string form.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    pub workspace: Option<String>,
    pub project: Option<String>,
    pub base: Option<String>,
    pub table: Option<String>,
}

impl Scope {
    pub fn tenant() -> Scope {
        Scope::default()
    }

    pub fn workspace(workspace: impl Into<String>) -> Scope {
        Scope { workspace: Some(workspace.into()), ..Scope::default() }
    }

    pub fn project(workspace: impl Into<String>, project: impl Into<String>) -> Scope {
        Scope { project: Some(project.into()), ..Scope::workspace(workspace) }
    }

    pub fn base(workspace: impl Into<String>, base: impl Into<String>) -> Scope {
        Scope { base: Some(base.into()), ..Scope::workspace(workspace) }
    }

    pub fn table(workspace: impl Into<String>, base: impl Into<String>, table: impl Into<String>) -> Scope {
        Scope { table: Some(table.into()), ..Scope::base(workspace, base) }
    }

    /// This target (a base, or a table of it) as inside `project`: what the platform's records say, for a
    /// decision. Project grants cover it; the string form cannot say it.
    #[must_use]
    pub fn in_project(self, project: impl Into<String>) -> Scope {
        Scope { project: Some(project.into()), ..self }
    }

    /// This scope without its table: a table's base (with its project, if any).
    #[must_use]
    pub fn without_table(&self) -> Scope {
        Scope { table: None, ..self.clone() }
    }

    /// The innermost level named.
    pub fn level(&self) -> Level {
        if self.table.is_some() {
            Level::Table
        } else if self.base.is_some() {
            Level::Base
        } else if self.project.is_some() {
            Level::Project
        } else if self.workspace.is_some() {
            Level::Workspace
        } else {
            Level::Tenant
        }
    }

    pub fn is_tenant(&self) -> bool {
        self.level() == Level::Tenant
    }

    /// Whether a grant at this scope applies to `target`: every level this scope names equals the target's.
    /// A malformed scope (a level without its workspace, a table without its base: see [`Scope::validate`])
    /// covers nothing, so a grant built by hand fails closed. At most four string comparisons, no allocation.
    pub fn covers(&self, target: &Scope) -> bool {
        // Innermost first: a grant's deepest id tells it apart from its neighbours soonest.
        self.is_well_formed() && level_covers(&self.table, &target.table) && self.covers_above_table(target)
    }

    /// [`Scope::covers`] for the workspace, project and base levels only (the table levels are the caller's).
    pub(crate) fn covers_above_table(&self, target: &Scope) -> bool {
        level_covers(&self.base, &target.base)
            && level_covers(&self.project, &target.project)
            && level_covers(&self.workspace, &target.workspace)
    }

    /// The shape rules, without the ids: whatever is below the tenant names its workspace, a table its base.
    pub(crate) fn is_well_formed(&self) -> bool {
        (self.workspace.is_some() || (self.project.is_none() && self.base.is_none() && self.table.is_none()))
            && (self.table.is_none() || self.base.is_some())
    }

    /// Checks a scope built from parts: every id is `[A-Za-z0-9_-]{1,64}`, a project, base or table has its
    /// workspace, a table its base. (A target may name a project and a base: see [`Scope::in_project`].)
    pub fn validate(&self) -> Result<(), ScopeError> {
        for (level, id) in self.levels() {
            if !is_valid_id(id) {
                return Err(ScopeError::BadId { level, id: echo(id) });
            }
        }
        if self.workspace.is_none() && !self.is_tenant() {
            return Err(ScopeError::MissingWorkspace);
        }
        if self.table.is_some() && self.base.is_none() {
            return Err(ScopeError::TableWithoutBase);
        }
        Ok(())
    }

    /// The levels named, outermost first, with their ids.
    pub fn levels(&self) -> impl Iterator<Item = (Level, &str)> {
        [
            (Level::Workspace, &self.workspace),
            (Level::Project, &self.project),
            (Level::Base, &self.base),
            (Level::Table, &self.table),
        ]
        .into_iter()
        .filter_map(|(level, id)| id.as_deref().map(|id| (level, id)))
    }

    fn slot(&mut self, level: Level) -> Option<&mut Option<String>> {
        match level {
            Level::Tenant => None,
            Level::Workspace => Some(&mut self.workspace),
            Level::Project => Some(&mut self.project),
            Level::Base => Some(&mut self.base),
            Level::Table => Some(&mut self.table),
        }
    }
}

#[inline]
fn level_covers(grant: &Option<String>, target: &Option<String>) -> bool {
    match grant {
        None => true,
        Some(grant) => target.as_deref() == Some(grant.as_str()),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("a scope is at most {MAX_SCOPE_LEN} bytes, this one is {len}")]
    TooLong { len: usize },
    #[error("empty scope; say \"tenant\" for the whole tenant")]
    Empty,
    #[error("malformed scope segment {segment:?}: expected level:id, e.g. workspace:wsX")]
    Malformed { segment: String },
    #[error("unknown scope level {level:?}; the levels are workspace, project, base and table")]
    UnknownLevel { level: String },
    #[error("bad {level} id {id:?}: an id is 1 to 64 of A-Z, a-z, 0-9, _ and -")]
    BadId { level: Level, id: String },
    #[error("the scope names its {level} twice")]
    DuplicateLevel { level: Level },
    #[error("the scope's {level} is out of order: workspace, then project or base, then table")]
    OutOfOrder { level: Level },
    #[error("a project, base or table scope starts with its workspace")]
    MissingWorkspace,
    #[error("a table scope names its base: workspace:<id>/base:<id>/table:<id>")]
    TableWithoutBase,
    #[error("a base scope names the base, not its project: which project holds a base is the platform's record")]
    ProjectWithBase,
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Scope, ScopeError> {
        if s.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::TooLong { len: s.len() });
        }
        if s.is_empty() {
            return Err(ScopeError::Empty);
        }
        if s == Level::Tenant.as_str() {
            return Ok(Scope::tenant());
        }
        let mut scope = Scope::tenant();
        let mut last = Level::Tenant;
        for segment in s.split('/') {
            let Some((name, id)) = segment.split_once(':') else {
                return Err(ScopeError::Malformed { segment: echo(segment) });
            };
            let level = match name {
                "workspace" => Level::Workspace,
                "project" => Level::Project,
                "base" => Level::Base,
                "table" => Level::Table,
                _ => return Err(ScopeError::UnknownLevel { level: echo(name) }),
            };
            if !is_valid_id(id) {
                return Err(ScopeError::BadId { level, id: echo(id) });
            }
            let Some(slot) = scope.slot(level) else {
                return Err(ScopeError::UnknownLevel { level: echo(name) });
            };
            if slot.is_some() {
                return Err(ScopeError::DuplicateLevel { level });
            }
            *slot = Some(id.to_owned());
            if last == Level::Tenant && level != Level::Workspace {
                return Err(ScopeError::MissingWorkspace);
            }
            if level <= last {
                return Err(ScopeError::OutOfOrder { level });
            }
            last = level;
        }
        if scope.table.is_some() && scope.base.is_none() {
            return Err(ScopeError::TableWithoutBase);
        }
        if scope.project.is_some() && scope.base.is_some() {
            return Err(ScopeError::ProjectWithBase);
        }
        Ok(scope)
    }
}

/// The string form; a target placed [`Scope::in_project`] prints its project too (for logs), which the parser
/// refuses.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (level, id) in self.levels() {
            if !first {
                f.write_str("/")?;
            }
            first = false;
            write!(f, "{level}:{id}")?;
        }
        if first { f.write_str(Level::Tenant.as_str()) } else { Ok(()) }
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScopeVisitor;
        impl serde::de::Visitor<'_> for ScopeVisitor {
            type Value = Scope;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scope such as \"workspace:wsX/base:appZ\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scope, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(ScopeVisitor)
    }
}

#[cfg(test)]
mod tests;
