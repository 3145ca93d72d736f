fn main() -> std::process::ExitCode {
    slipway_common::cli::main("image-store", image_store::run)
}
