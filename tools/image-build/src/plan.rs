//! The build plan as dockerfile-parse prints it (dockerfile-plan(5)): the
//! types are common's, read from the tool's JSON output, never from its
//! code, so the two tools stay apart as the design asks.

pub use slipway_common::plan::{
    chomp, Args, Base, Copy, Instruction, Network, Onbuild, Pairs, Plan, Run, Security, Source,
    Stage, Step, PLAN_VERSION,
};
