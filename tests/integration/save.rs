//! `durable save`: round trips and options.
