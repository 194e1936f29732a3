//! Granted OAuth scopes in the SMART App Launch v2 vocabulary
//! (<https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html>).
//!
//! A scope string such as `openid email patient/Observation.crs user/*.rs` parses into a
//! [`GrantedScopes`]:
//!
//! * **identity scopes** (OpenID Connect Core §5.4 and SMART §"Scopes for requesting identity
//!   data"/§"Scopes for requesting a refresh token"): `openid`, `profile`, `email`, `fhirUser`,
//!   `offline_access`, `online_access`;
//! * **resource scopes** (SMART v2 §"Clinical scope syntax"): `<context>/<resource>.<permissions>`
//!   where the context is `patient` (the caller's own patient compartment), `user` (whatever the
//!   user may access) or `system`, the resource a resource type or `*`, and the permissions a
//!   subset of `cruds` in that order (create, read, update, delete, search). SMART v1 suffixes are
//!   mapped (§"Scopes for SMART v1"): `.read` → `.rs`, `.write` → `.cud`, `.*` → `.cruds`;
//! * anything else (`launch`, `introspection`, granular scopes with a `?query`, …) is kept as an
//!   **opaque** token that grants nothing by itself.
//!
//! The canonical text form ([`Display`](std::fmt::Display)) lists identity scopes first (in the
//! order above), then resource scopes by context and resource, then opaque tokens, each once;
//! permissions of one context and resource are merged, and a resource scope entirely covered by
//! the `*` scope of its context is dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{CoreError, CoreResult};

/// A FHIR interaction a resource scope permits (SMART v2 §"Clinical scope syntax": `c r u d s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interaction {
    /// `c`: create (FHIR `create`).
    Create,
    /// `r`: read (FHIR `read`, `vread`, `history`).
    Read,
    /// `u`: update (FHIR `update`, `patch`).
    Update,
    /// `d`: delete (FHIR `delete`).
    Delete,
    /// `s`: search (FHIR `search`).
    Search,
}

impl Interaction {
    /// Every interaction, in the SMART order `c r u d s`.
    pub const ALL: [Interaction; 5] = [
        Interaction::Create,
        Interaction::Read,
        Interaction::Update,
        Interaction::Delete,
        Interaction::Search,
    ];

    /// The SMART v2 permission letter.
    pub fn letter(self) -> char {
        match self {
            Interaction::Create => 'c',
            Interaction::Read => 'r',
            Interaction::Update => 'u',
            Interaction::Delete => 'd',
            Interaction::Search => 's',
        }
    }

    fn bit(self) -> u8 {
        match self {
            Interaction::Create => 1,
            Interaction::Read => 2,
            Interaction::Update => 4,
            Interaction::Delete => 8,
            Interaction::Search => 16,
        }
    }
}

/// A set of [`Interaction`]s (the permission suffix of a resource scope).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Interactions(u8);

impl Interactions {
    /// No interaction.
    pub const NONE: Interactions = Interactions(0);
    /// `cruds`.
    pub const ALL: Interactions = Interactions(31);

    /// Whether `interaction` is in the set.
    pub fn contains(self, interaction: Interaction) -> bool {
        self.0 & interaction.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every interaction of `other` is in `self`.
    pub fn includes(self, other: Interactions) -> bool {
        other.0 & !self.0 == 0
    }

    /// The interactions in both sets.
    pub fn intersection(self, other: Interactions) -> Interactions {
        Interactions(self.0 & other.0)
    }

    /// The interactions in either set.
    pub fn union(self, other: Interactions) -> Interactions {
        Interactions(self.0 | other.0)
    }

    /// Parses a SMART v2 suffix (`cruds` in order, at least one letter) or a v1 suffix (`read`,
    /// `write`, `*`).
    fn parse_suffix(suffix: &str) -> Option<Interactions> {
        match suffix {
            "read" => return Some(Interactions(2 | 16)),
            "write" => return Some(Interactions(1 | 4 | 8)),
            "*" => return Some(Interactions::ALL),
            "" => return None,
            _ => {}
        }
        let mut set = 0u8;
        let mut next = 0usize;
        for letter in suffix.chars() {
            let remaining = Interaction::ALL.get(next..)?;
            let position = remaining.iter().position(|i| i.letter() == letter)?;
            set |= remaining.get(position)?.bit();
            next = next.checked_add(position)?.checked_add(1)?;
        }
        Some(Interactions(set))
    }
}

impl FromIterator<Interaction> for Interactions {
    fn from_iter<T: IntoIterator<Item = Interaction>>(iter: T) -> Self {
        Interactions(iter.into_iter().fold(0, |set, i| set | i.bit()))
    }
}

impl fmt::Display for Interactions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for interaction in Interaction::ALL {
            if self.contains(interaction) {
                write!(f, "{}", interaction.letter())?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Interactions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Interactions({self})")
    }
}

/// The context prefix of a resource scope (SMART v2 §"Clinical scope syntax").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScopeContext {
    /// `patient/`: only the data of the patient the token acts for (its patient compartment).
    Patient,
    /// `user/`: whatever the user may access.
    User,
    /// `system/`: a backend service without a user.
    System,
}

impl ScopeContext {
    /// The prefix without the slash.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeContext::Patient => "patient",
            ScopeContext::User => "user",
            ScopeContext::System => "system",
        }
    }

    fn parse(prefix: &str) -> Option<ScopeContext> {
        match prefix {
            "patient" => Some(ScopeContext::Patient),
            "user" => Some(ScopeContext::User),
            "system" => Some(ScopeContext::System),
            _ => None,
        }
    }
}

/// An identity or refresh scope (OpenID Connect Core §5.4, SMART §"Scopes for requesting
/// identity data" and §"Scopes for requesting a refresh token"), in canonical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityScope {
    /// `openid`: an ID token, `/o/userinfo/` and `/api/v1/users/profile`.
    OpenId,
    /// `profile`.
    Profile,
    /// `email`: the e-mail claim.
    Email,
    /// `fhirUser`.
    FhirUser,
    /// `offline_access`.
    OfflineAccess,
    /// `online_access`.
    OnlineAccess,
}

impl IdentityScope {
    /// Every identity scope, in canonical order.
    pub const ALL: [IdentityScope; 6] = [
        IdentityScope::OpenId,
        IdentityScope::Profile,
        IdentityScope::Email,
        IdentityScope::FhirUser,
        IdentityScope::OfflineAccess,
        IdentityScope::OnlineAccess,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityScope::OpenId => "openid",
            IdentityScope::Profile => "profile",
            IdentityScope::Email => "email",
            IdentityScope::FhirUser => "fhirUser",
            IdentityScope::OfflineAccess => "offline_access",
            IdentityScope::OnlineAccess => "online_access",
        }
    }

    fn parse(token: &str) -> Option<IdentityScope> {
        IdentityScope::ALL.into_iter().find(|s| s.as_str() == token)
    }
}

/// One resource scope: context, resource type (`*` for every type) and permissions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceScope {
    /// `patient`, `user` or `system`.
    pub context: ScopeContext,
    /// Resource type, or `*`.
    pub resource: String,
    /// Permitted interactions (never empty).
    pub interactions: Interactions,
}

impl fmt::Display for ResourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}.{}",
            self.context.as_str(),
            self.resource,
            self.interactions
        )
    }
}

/// The resource part of a resource scope: `*` or letters, digits and `_`, starting with a letter.
fn is_resource_name(name: &str) -> bool {
    name == "*"
        || (name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// A parsed, canonical set of granted scopes (see the module documentation).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct GrantedScopes {
    identity: BTreeSet<IdentityScope>,
    resources: BTreeMap<(ScopeContext, String), Interactions>,
    opaque: BTreeSet<String>,
}

/// The scopes of a portal or notebook login (the user's full role; what the account may do is
/// then decided by the policy): `openid email user/*.cruds`.
const FULL_ROLE: &str = "openid email user/*.cruds";

/// The scopes of a patient app redeeming an invitation link: identify the patient, read its own
/// patient record, upload and read its own observations, read and record (not erase) its own
/// consent decisions.
const PATIENT_APP: &str =
    "openid email patient/Patient.rs patient/Observation.crs patient/Consent.cru";

impl GrantedScopes {
    /// Parses a space-separated scope string (RFC 6749 §3.3). Unknown scopes are kept as opaque
    /// tokens; an empty string gives the empty set.
    ///
    /// # Errors
    ///
    /// [`CoreError::BadRequest`] when a token has characters RFC 6749 §3.3 does not allow in a
    /// scope, or starts with `patient/`, `user/` or `system/` but is not a well-formed SMART
    /// resource scope (no `.`, an invalid resource name, or permissions other than a non-empty
    /// in-order subset of `cruds` or the v1 `read`/`write`/`*`).
    pub fn parse(text: &str) -> CoreResult<GrantedScopes> {
        let mut scopes = GrantedScopes::default();
        for token in text
            .split([' ', '\t', '\n', '\r'])
            .filter(|t| !t.is_empty())
        {
            if !is_scope_token(token) {
                return Err(CoreError::BadRequest(format!(
                    "Invalid scope {token:?}: scopes are printable ASCII without '\"' or '\\'."
                )));
            }
            if let Some(identity) = IdentityScope::parse(token) {
                scopes.identity.insert(identity);
                continue;
            }
            let context = token
                .split_once('/')
                .and_then(|(prefix, _)| ScopeContext::parse(prefix));
            match (context, token.split_once('/')) {
                (Some(context), Some((_, rest))) if !rest.contains('?') => {
                    let malformed = || {
                        CoreError::BadRequest(format!(
                            "Invalid scope {token:?}: expected {}/<resource type or *>.<permissions cruds>",
                            context.as_str()
                        ))
                    };
                    let (resource, suffix) = rest.split_once('.').ok_or_else(malformed)?;
                    if !is_resource_name(resource) {
                        return Err(malformed());
                    }
                    let interactions = Interactions::parse_suffix(suffix).ok_or_else(malformed)?;
                    scopes.add(context, resource, interactions);
                }
                _ => {
                    scopes.opaque.insert(token.to_string());
                }
            }
        }
        scopes.simplify();
        Ok(scopes)
    }

    /// What portal and notebook logins get (browser sessions count as this too): `openid email
    /// user/*.cruds` — the user's full role, which the policy then limits to what the account may
    /// do.
    pub fn full_role() -> GrantedScopes {
        GrantedScopes::parse(FULL_ROLE).unwrap_or_default()
    }

    /// What a token from a patient invitation link gets: `openid email patient/Patient.rs
    /// patient/Observation.crs patient/Consent.cru` — upload and read the patient's own
    /// observations, read its own record, read and record (create, change) its own consent
    /// decisions; nothing outside its patient compartment.
    pub fn patient_app() -> GrantedScopes {
        GrantedScopes::parse(PATIENT_APP).unwrap_or_default()
    }

    fn add(&mut self, context: ScopeContext, resource: &str, interactions: Interactions) {
        if interactions.is_empty() {
            return;
        }
        let entry = self
            .resources
            .entry((context, resource.to_string()))
            .or_default();
        *entry = entry.union(interactions);
    }

    /// Drops resource scopes entirely covered by the `*` scope of their context.
    fn simplify(&mut self) {
        let wildcards: BTreeMap<ScopeContext, Interactions> = self
            .resources
            .iter()
            .filter(|((_, resource), _)| resource == "*")
            .map(|((context, _), i)| (*context, *i))
            .collect();
        self.resources.retain(|(context, resource), interactions| {
            resource == "*"
                || !wildcards
                    .get(context)
                    .is_some_and(|w| w.includes(*interactions))
        });
    }

    /// Whether no scope at all was granted.
    pub fn is_empty(&self) -> bool {
        self.identity.is_empty() && self.resources.is_empty() && self.opaque.is_empty()
    }

    /// Whether the identity scope is granted.
    pub fn has(&self, scope: IdentityScope) -> bool {
        self.identity.contains(&scope)
    }

    /// Whether `openid` is granted.
    pub fn has_openid(&self) -> bool {
        self.has(IdentityScope::OpenId)
    }

    /// Whether the opaque (non-SMART, non-identity) token was granted, e.g. `introspection`.
    pub fn has_opaque(&self, token: &str) -> bool {
        self.opaque.contains(token)
    }

    /// The opaque tokens, in order.
    pub fn opaque(&self) -> impl Iterator<Item = &str> {
        self.opaque.iter().map(String::as_str)
    }

    /// The resource scopes, in canonical order.
    pub fn resource_scopes(&self) -> impl Iterator<Item = ResourceScope> + '_ {
        self.resources
            .iter()
            .map(|((context, resource), interactions)| ResourceScope {
                context: *context,
                resource: resource.clone(),
                interactions: *interactions,
            })
    }

    /// Whether any resource scope (of any context) was granted.
    pub fn has_resource_scopes(&self) -> bool {
        !self.resources.is_empty()
    }

    /// True when the token has no `user/` or `system/` resource scope: its holder may then see
    /// only the data of their own patient record (SMART `patient/` context), whatever their
    /// account could otherwise do.
    pub fn is_patient_compartment_only(&self) -> bool {
        self.resources
            .keys()
            .all(|(context, _)| *context == ScopeContext::Patient)
    }

    /// Whether a resource scope of `context` permits `interaction` on `resource` (a resource
    /// type, matched by the scope's type or `*`).
    pub fn permits_as(
        &self,
        context: ScopeContext,
        resource: &str,
        interaction: Interaction,
    ) -> bool {
        self.resources.iter().any(|((c, r), i)| {
            *c == context && (r == "*" || r == resource) && i.contains(interaction)
        })
    }

    /// Whether a resource scope of any context permits `interaction` on `resource`. Whose data
    /// that reaches (own patient compartment or more) is [`Self::is_patient_compartment_only`]'s
    /// question.
    pub fn permits(&self, resource: &str, interaction: Interaction) -> bool {
        [
            ScopeContext::Patient,
            ScopeContext::User,
            ScopeContext::System,
        ]
        .into_iter()
        .any(|context| self.permits_as(context, resource, interaction))
    }

    /// The interactions of `context` that reach `resource` (`*` only through `*` scopes).
    fn reach(&self, context: ScopeContext, resource: &str) -> Interactions {
        self.resources
            .iter()
            .filter(|((c, r), _)| *c == context && (r == "*" || r == resource))
            .fold(Interactions::NONE, |acc, (_, i)| acc.union(*i))
    }

    /// Whether every scope of `other` lies within `self` (same identity and opaque tokens; each
    /// resource scope's permissions reached by scopes of the same context). A request that is
    /// not covered asks for more than was granted (RFC 6749 §6).
    pub fn covers(&self, other: &GrantedScopes) -> bool {
        other.identity.is_subset(&self.identity)
            && other.opaque.is_subset(&self.opaque)
            && other
                .resources
                .iter()
                .all(|((context, resource), i)| self.reach(*context, resource).includes(*i))
    }

    /// The scopes a token endpoint grants when a client asks for `requested` out of `self`
    /// (RFC 6749 §3.3: never more than `self`).
    ///
    /// Identity and opaque scopes are those in both. Resource scopes are the intersection, scope
    /// by scope and context by context (`user/Observation.rs` out of `user/*.cruds` gives
    /// `user/Observation.rs`; `patient/…` never comes out of `user/…`); but a request naming no
    /// resource scope at all (an OpenID Connect client asking for `openid email`, as the portal
    /// and the original's clients do) keeps every resource scope of `self`.
    pub fn narrowed_to(&self, requested: &GrantedScopes) -> GrantedScopes {
        let mut out = GrantedScopes {
            identity: self
                .identity
                .intersection(&requested.identity)
                .copied()
                .collect(),
            resources: BTreeMap::new(),
            opaque: self
                .opaque
                .intersection(&requested.opaque)
                .cloned()
                .collect(),
        };
        if requested.resources.is_empty() {
            out.resources = self.resources.clone();
            return out;
        }
        for ((context, wanted_resource), wanted) in &requested.resources {
            for ((have_context, have_resource), have) in &self.resources {
                if have_context != context {
                    continue;
                }
                let resource = if wanted_resource == "*" {
                    have_resource
                } else if have_resource == "*" || have_resource == wanted_resource {
                    wanted_resource
                } else {
                    continue;
                };
                out.add(*context, resource, wanted.intersection(*have));
            }
        }
        out.simplify();
        out
    }
}

impl fmt::Display for GrantedScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            if first {
                first = false;
                Ok(())
            } else {
                f.write_str(" ")
            }
        };
        for identity in &self.identity {
            sep(f)?;
            f.write_str(identity.as_str())?;
        }
        for scope in self.resource_scopes() {
            sep(f)?;
            write!(f, "{scope}")?;
        }
        for token in &self.opaque {
            sep(f)?;
            f.write_str(token)?;
        }
        Ok(())
    }
}

impl fmt::Debug for GrantedScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GrantedScopes({:?})", self.to_string())
    }
}

impl FromStr for GrantedScopes {
    type Err = CoreError;

    fn from_str(s: &str) -> CoreResult<Self> {
        GrantedScopes::parse(s)
    }
}

impl Serialize for GrantedScopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for GrantedScopes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        GrantedScopes::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> GrantedScopes {
        GrantedScopes::parse(text).unwrap()
    }

    #[test]
    fn canonical_form() {
        assert_eq!(s("email openid email").to_string(), "openid email");
        assert_eq!(s("  ").to_string(), "");
        assert!(s("").is_empty());
        assert_eq!(
            s("user/Observation.r launch user/Observation.s openid").to_string(),
            "openid user/Observation.rs launch"
        );
        // v1 suffixes.
        assert_eq!(s("user/*.read").to_string(), "user/*.rs");
        assert_eq!(
            s("patient/Observation.write").to_string(),
            "patient/Observation.cud"
        );
        assert_eq!(s("system/*.*").to_string(), "system/*.cruds");
        // Covered by the wildcard of the same context: dropped.
        assert_eq!(
            s("user/*.cruds user/Observation.rs patient/Observation.r").to_string(),
            "patient/Observation.r user/*.cruds"
        );
        assert_eq!(
            s("user/*.r user/Observation.rs").to_string(),
            "user/*.r user/Observation.rs"
        );
        assert_eq!(
            GrantedScopes::full_role().to_string(),
            "openid email user/*.cruds"
        );
        assert_eq!(
            GrantedScopes::patient_app().to_string(),
            "openid email patient/Consent.cru patient/Observation.crs patient/Patient.rs"
        );
    }

    #[test]
    fn unknown_scopes_stay_opaque_and_malformed_ones_fail() {
        let scopes = s("introspection launch/patient patient/Observation.rs?code=x");
        assert!(scopes.has_opaque("introspection"));
        assert!(scopes.has_opaque("patient/Observation.rs?code=x"));
        assert!(!scopes.has_resource_scopes());
        assert!(!scopes.permits("Observation", Interaction::Read));
        for bad in [
            "user/Observation",
            "user/Observation.",
            "user/Observation.rc",
            "user/Observation.rr",
            "user/Observation.x",
            "patient/.r",
            "patient/Obs-ervation.r",
            "system/*.reads",
            "openid \"email\"",
            "caf\u{e9}",
        ] {
            assert!(GrantedScopes::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn permissions() {
        let app = GrantedScopes::patient_app();
        assert!(app.is_patient_compartment_only());
        assert!(app.permits("Observation", Interaction::Create));
        assert!(app.permits("Observation", Interaction::Search));
        assert!(!app.permits("Observation", Interaction::Delete));
        assert!(app.permits("Consent", Interaction::Update));
        assert!(!app.permits("Consent", Interaction::Delete));
        assert!(!app.permits("Client", Interaction::Read));
        assert!(!app.permits_as(ScopeContext::User, "Observation", Interaction::Read));
        assert!(app.has_openid());

        let full = GrantedScopes::full_role();
        assert!(!full.is_patient_compartment_only());
        assert!(full.permits_as(ScopeContext::User, "Client", Interaction::Delete));
        assert!(!full.permits_as(ScopeContext::Patient, "Client", Interaction::Delete));
        assert!(s("openid").is_patient_compartment_only());
        assert!(!s("system/Observation.r").is_patient_compartment_only());
    }

    #[test]
    fn narrowing_never_widens() {
        let full = GrantedScopes::full_role();
        // An OpenID Connect request keeps the resource scopes.
        assert_eq!(
            full.narrowed_to(&s("openid")).to_string(),
            "openid user/*.cruds"
        );
        assert_eq!(full.narrowed_to(&s("")).to_string(), "user/*.cruds");
        assert_eq!(
            full.narrowed_to(&s("openid user/Observation.rs user/Patient.read"))
                .to_string(),
            "openid user/Observation.rs user/Patient.rs"
        );
        // patient/ never comes out of user/.
        assert_eq!(
            full.narrowed_to(&s("patient/Observation.rs")).to_string(),
            ""
        );
        let app = GrantedScopes::patient_app();
        assert_eq!(
            app.narrowed_to(&s("patient/*.r offline_access"))
                .to_string(),
            "patient/Consent.r patient/Observation.r patient/Patient.r"
        );
        assert_eq!(app.narrowed_to(&s("user/*.cruds")).to_string(), "");
        assert!(full.covers(&s("openid user/Observation.rs")));
        assert!(!full.covers(&s("openid profile")));
        assert!(!app.covers(&s("patient/Observation.d")));
        assert!(!app.covers(&s("patient/*.r")));
        assert!(s("user/Observation.rs user/Patient.r").covers(&s("user/Observation.s")));
        assert!(!s("user/Observation.rs").covers(&s("user/*.r")));
    }

    #[test]
    fn serde_uses_the_text_form() {
        let app = GrantedScopes::patient_app();
        let json = serde_json::to_string(&app).unwrap();
        assert_eq!(
            json,
            "\"openid email patient/Consent.cru patient/Observation.crs patient/Patient.rs\""
        );
        assert_eq!(serde_json::from_str::<GrantedScopes>(&json).unwrap(), app);
        assert!(serde_json::from_str::<GrantedScopes>("\"user/x.q\"").is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn token() -> impl Strategy<Value = String> {
            let resource = prop_oneof![
                Just("*".to_string()),
                Just("Observation".to_string()),
                Just("Patient".to_string()),
                Just("Consent".to_string()),
                "[A-Z][a-z]{0,6}",
            ];
            let suffix = prop_oneof![
                (1u8..32).prop_map(|bits| Interactions(bits).to_string()),
                Just("read".to_string()),
                Just("write".to_string()),
                Just("*".to_string()),
            ];
            let context = prop_oneof![Just("patient"), Just("user"), Just("system")];
            prop_oneof![
                (context, resource, suffix).prop_map(|(c, r, s)| format!("{c}/{r}.{s}")),
                prop::sample::select(IdentityScope::ALL.map(IdentityScope::as_str).to_vec())
                    .prop_map(str::to_string),
                "[a-z_:]{1,12}",
            ]
        }

        fn scopes() -> impl Strategy<Value = String> {
            prop::collection::vec(token(), 0..8).prop_map(|tokens| tokens.join(" "))
        }

        proptest! {
            /// Any printable text either fails or parses into a set whose canonical text parses
            /// back to the same set (and prints the same).
            #[test]
            fn arbitrary_text_round_trips(text in "[ -~]{0,80}") {
                if let Ok(parsed) = GrantedScopes::parse(&text) {
                    let printed = parsed.to_string();
                    let again = GrantedScopes::parse(&printed).unwrap();
                    prop_assert_eq!(&again, &parsed);
                    prop_assert_eq!(again.to_string(), printed);
                }
            }

            /// Well-formed scope strings always parse and round-trip.
            #[test]
            fn scope_strings_round_trip(text in scopes()) {
                let parsed = GrantedScopes::parse(&text).unwrap();
                prop_assert_eq!(GrantedScopes::parse(&parsed.to_string()).unwrap(), parsed);
            }

            /// Narrowing gives a subset of what was granted, keeps only what was asked for, and
            /// asking for everything granted changes nothing.
            #[test]
            fn narrowing_is_a_subset(granted in scopes(), requested in scopes()) {
                let granted = GrantedScopes::parse(&granted).unwrap();
                let requested = GrantedScopes::parse(&requested).unwrap();
                let narrowed = granted.narrowed_to(&requested);
                prop_assert!(granted.covers(&narrowed), "{} ⊄ {}", narrowed, granted);
                if requested.has_resource_scopes() {
                    prop_assert!(requested.covers(&narrowed), "{} ⊄ {}", narrowed, requested);
                }
                prop_assert_eq!(granted.narrowed_to(&granted), granted.clone());
                for resource in ["Observation", "Patient", "Consent", "Client"] {
                    for interaction in Interaction::ALL {
                        if narrowed.permits(resource, interaction) {
                            prop_assert!(granted.permits(resource, interaction));
                        }
                    }
                }
            }
        }
    }
}
