//! A route's need: an action on a resource template (`projects/{id}`) whose `{name}` segments
//! are filled from the route's path parameters. Shared by the axum and actix middleware.

use latchkey_rules::scope::{Action, is_valid_resource};

/// What a route requires: `action` on the resource its template names for this request.
///
/// ```
/// use latchkey_verify::Requirement;
///
/// let need = Requirement::parse("read", "projects/{id}/files")?;
/// let resource = need.resource(|name| (name == "id").then_some("42"));
/// assert_eq!(resource.as_deref(), Some("projects/42/files"));
/// // A parameter that is not a resource segment fills nothing: the request is refused.
/// assert_eq!(need.resource(|_| Some("..%2F")), None);
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    action: Action,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

impl Requirement {
    /// `action` (`read`, `write`, `admin`) on `template`: `/`-separated segments, each a
    /// resource name or a whole-segment `{param}`.
    ///
    /// ```
    /// use latchkey_verify::Requirement;
    /// assert!(Requirement::parse("read", "projects/{id}").is_ok());
    /// assert!(Requirement::parse("read", "projects/*").is_err());
    /// assert!(Requirement::parse("reed", "projects").is_err());
    /// ```
    pub fn parse(action: &str, template: &str) -> Result<Self, String> {
        let action = Action::parse(action)?;
        let segments: Vec<Segment> = template
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) if !name.is_empty() => Segment::Param(name.to_owned()),
                    _ => Segment::Literal(s.to_owned()),
                },
            )
            .collect();
        let sample = fill(&segments, |_| Some("x"));
        if !sample.as_deref().is_some_and(is_valid_resource) {
            return Err(format!("{template:?} is not a resource template"));
        }
        Ok(Requirement { action, segments })
    }

    /// The action required.
    ///
    /// ```
    /// use latchkey_verify::Requirement;
    /// use latchkey_verify::scope::Action;
    /// assert_eq!(Requirement::parse("write", "a")?.action(), Action::Write);
    /// # Ok::<(), String>(())
    /// ```
    pub fn action(&self) -> Action {
        self.action
    }

    /// The resource for one request, `param` giving each path parameter's (decoded) value;
    /// `None` when a parameter is missing or its value is not a resource segment (`*`, `..`,
    /// `/`, …): such a request is refused, never matched against a wildcard.
    ///
    /// ```
    /// use latchkey_verify::Requirement;
    /// let need = Requirement::parse("read", "projects/{id}")?;
    /// assert_eq!(need.resource(|_| Some("*")), None);
    /// assert_eq!(need.resource(|_| None), None);
    /// # Ok::<(), String>(())
    /// ```
    pub fn resource<'a>(&self, param: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
        fill(&self.segments, param).filter(|r| is_valid_resource(r))
    }
}

fn fill<'a>(segments: &[Segment], param: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        match segment {
            Segment::Literal(s) => out.push_str(s),
            Segment::Param(name) => {
                let value = param(name)?;
                if value.contains('/') {
                    return None;
                }
                out.push_str(value);
            }
        }
    }
    Some(out)
}
