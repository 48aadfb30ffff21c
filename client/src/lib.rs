//! shout library.
