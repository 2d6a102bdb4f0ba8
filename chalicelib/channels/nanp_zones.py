"""US and Canadian area codes that lie (almost) entirely in one time zone outside US Eastern.

Area codes not listed here are treated as "somewhere in the mainland US" (or in Canada's zones),
and quiet hours then hold in every such zone - a narrower window, never a night-time text.
"""

from __future__ import annotations


def _zone_of(table: dict[str, str]) -> dict[str, str]:
    return {code: zone for zone, codes in table.items() for code in codes.split()}


AREA_CODE_ZONES: dict[str, str] = _zone_of(
    {
        "America/New_York": (
            "201 202 203 212 215 216 234 239 240 267 301 302 305 321 330 332 347 351 352 380 386 "
            "401 404 407 410 412 413 434 440 443 445 470 475 478 484 508 513 516 518 540 551 561 "
            "567 571 585 586 603 607 609 610 614 617 631 640 646 667 678 680 689 703 704 706 716 "
            "717 718 724 727 732 734 740 743 754 757 762 770 772 774 781 786 802 803 804 813 814 "
            "828 838 843 845 848 854 856 857 862 863 864 878 904 908 910 914 917 919 929 934 937 "
            "941 947 954 959 973 978 980 984 989"
        ),
        "America/Chicago": (
            "205 210 214 217 218 224 225 228 251 254 256 262 274 281 309 312 314 316 318 319 320 "
            "325 331 334 337 346 361 405 409 414 417 430 447 464 469 479 501 504 507 512 515 531 "
            "534 539 557 563 573 580 601 605 608 612 615 618 620 629 630 636 641 651 659 660 662 "
            "682 701 708 712 713 715 726 731 737 763 769 773 779 785 815 816 817 830 832 847 870 "
            "872 901 903 913 918 920 931 936 938 940 945 952 956 972 975 979 985 "
            "204 431 584"
        ),
        "America/Denver": "303 307 385 406 435 505 575 719 720 801 915 970 983 403 587 780 825 368",
        "America/Boise": "208 986",
        "America/Phoenix": "480 520 602 623 928",
        "America/Los_Angeles": (
            "206 209 213 253 279 310 323 341 350 360 369 408 415 424 425 442 458 503 509 510 530 "
            "541 559 562 564 619 626 628 650 657 661 669 702 707 714 725 747 760 775 805 818 820 "
            "831 840 858 909 916 925 949 951 971 "
            "236 250 604 672 778"
        ),
        "America/Anchorage": "907",
        "Pacific/Honolulu": "808",
        "America/Regina": "306 639 474",
        "America/Toronto": (
            "226 249 289 343 365 382 416 437 519 548 613 647 683 705 742 753 807 905 "
            "263 354 367 418 438 450 468 514 579 581 819 873"
        ),
        "America/Halifax": "902 782 506 428",
        "America/St_Johns": "709 879",
    }
)

US_MAINLAND = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
