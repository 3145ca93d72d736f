fn main() -> std::process::ExitCode {
    slipway_common::cli::main("image-assemble", image_assemble::run)
}
