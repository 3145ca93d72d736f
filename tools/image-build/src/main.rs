fn main() -> std::process::ExitCode {
    slipway_common::cli::main("image-build", image_build::run)
}
