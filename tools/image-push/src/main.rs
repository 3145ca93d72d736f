fn main() -> std::process::ExitCode {
    slipway_common::cli::main("image-push", image_push::run)
}
