from harness.cli import build_parser, config_from_args
from harness.run import EvalConfig


def test_flags_map_onto_the_config_dataclass() -> None:
    args = build_parser().parse_args(
        [
            "eval",
            "--model",
            "./m",
            "--adapter",
            "a=/x",
            "--adapter",
            "/y",
            "--tasks",
            "t1, t2",
            "--limit",
            "3",
            "--no-apply-chat-template",
            "--batch-size",
            "4",
        ]
    )
    config = config_from_args(args)
    assert config == EvalConfig(
        model="./m", adapters=("a=/x", "/y"), tasks=("t1", "t2"), limit=3, apply_chat_template=False, batch_size=4
    )


def test_defaults_come_from_the_dataclass() -> None:
    config = config_from_args(build_parser().parse_args(["eval"]))
    assert config == EvalConfig()
    assert config.tasks == ("mh_suite",)
    assert config.model == "smollm2-135m-instruct"
