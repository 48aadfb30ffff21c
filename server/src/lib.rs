//! shoutd library.
