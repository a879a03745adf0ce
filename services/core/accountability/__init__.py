"""Accountability (issue 16; seed IV 五 and 七, seed III items 8 and 9): who is responsible for a valid complaint,
penalties, repeat complaints and the stores' opinion books, major complaints, and the periodic independent review.
"""
